"""Knowledge distillation: a shallower student that learns the teacher's probabilities.

On CPUs without int8 instructions (AVX2, no VNNI), quantisation buys little; halving the encoder's depth
halves its cost. The student starts as the teacher with every other layer removed (the layers kept are
evenly spaced, so the student's first and last layers are close to the teacher's) and is trained on the
teacher's temperature-softened probabilities over the training tweets, plus a little of the gold labels
(Hinton et al., 2015; the DistilBERT recipe, without its hidden-state losses). ``badbuzz train --teacher
CKPT --student-layers 3 --base-model CKPT`` runs it through the ordinary training loop, with its dev
evaluation, checkpoints and ``--resume``.
"""

from __future__ import annotations

from typing import Any


def evenly_spaced(total: int, keep: int) -> list[int]:
    """``keep`` layer indices out of ``total``, spread evenly and ending with the last one (6 → 3: 1, 3, 5)."""
    if not 0 < keep <= total:
        raise ValueError(f"a student keeps between 1 and {total} layers, not {keep}")
    step = total / keep
    return [round((i + 1) * step) - 1 for i in range(keep)]


def _layer_list(model: Any) -> tuple[Any, str, Any]:
    """(module list of transformer layers, config attribute holding their count, config)."""
    config = model.config
    for path, attr in (("bert.encoder.layer", "num_hidden_layers"), ("roberta.encoder.layer", "num_hidden_layers"),
                       ("distilbert.transformer.layer", "n_layers")):
        obj = model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return obj, attr, config
    raise ValueError(f"cannot find the transformer layers of {type(model).__name__} to make a student")


def keep_layers(model: Any, keep: int) -> list[int]:
    """Cut ``model`` down to ``keep`` evenly spaced layers in place; returns the kept indices."""
    import torch

    layers, attr, config = _layer_list(model)
    kept = evenly_spaced(len(layers), keep)
    new = torch.nn.ModuleList([layers[i] for i in kept])
    for i, layer in enumerate(new):  # BERT attention layers know their index (used by caches only)
        for mod in layer.modules():
            if hasattr(mod, "layer_idx"):
                mod.layer_idx = i
    layers_owner, name = _owner(model, layers)
    setattr(layers_owner, name, new)
    setattr(config, attr, keep)
    return kept


def _owner(model: Any, target: Any) -> tuple[Any, str]:
    for module in model.modules():
        for name, child in module.named_children():
            if child is target:
                return module, name
    raise ValueError("layer list not found in the model")


def load_teacher(checkpoint: str, labels: list[str], device: Any) -> Any:
    """The teacher in eval mode with gradients off; its labels must be the student's, in the same order."""
    from transformers import AutoModelForSequenceClassification

    teacher = AutoModelForSequenceClassification.from_pretrained(checkpoint).to(device).eval()
    theirs = [teacher.config.id2label[i] for i in range(teacher.config.num_labels)]
    if theirs != list(labels):
        raise ValueError(f"teacher {checkpoint} predicts {theirs}, the student is asked for {labels}")
    for p in teacher.parameters():
        p.requires_grad_(False)

    def forward(**enc: Any) -> Any:
        import torch

        with torch.no_grad():
            return teacher(**enc)

    return forward


def distillation_loss(student_logits: Any, teacher_logits: Any, labels: Any, *, alpha: float,
                      temperature: float) -> Any:
    """alpha · T² · KL(teacher_T ‖ student_T) + (1 − alpha) · cross-entropy with the gold labels.

    Rows labelled ``-1`` (unlabelled texts) count in the soft term only; a batch without any gold label is
    all soft."""
    import torch.nn.functional as F

    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.softmax(teacher_logits.float() / t, dim=-1),
                    reduction="batchmean") * (t * t)
    gold = labels >= 0
    if not bool(gold.any()):
        return soft
    hard = F.cross_entropy(student_logits[gold], labels[gold])
    return alpha * soft + (1 - alpha) * hard * gold.float().mean()
