"""Make sure a servable model directory exists: train + export + validate one when it does not."""

from __future__ import annotations

from pathlib import Path

from badbuzz.models.serving.model_dir import MANIFEST_NAME
from badbuzz.models.training.base_models import resolve_base_model


def ensure_model(model_dir: Path, data: Path, base_model: str, *, max_steps: int, work_dir: Path) -> Path:
    """Return ``model_dir``, training and exporting a model there first if it holds none."""
    if (model_dir / MANIFEST_NAME).is_file():
        print(f"[badbuzz] using the model in {model_dir}")
        return model_dir
    from badbuzz.models.training.train import TRAINING_META, TrainConfig, require_train_extra, train

    require_train_extra()
    checkpoint = work_dir / "checkpoint"
    if (checkpoint / TRAINING_META).is_file():
        print(f"[badbuzz] exporting the checkpoint already trained in {checkpoint}")
    else:
        base = resolve_base_model(base_model, allow_offline_fallback=True)
        print(f"[badbuzz] no model in {model_dir}: fine-tuning {base} for {max_steps} steps on {data}")
        train(TrainConfig(data=data, output_dir=checkpoint, base_model=base, max_steps=max_steps))
    return export_validated(checkpoint, model_dir)


def export_validated(checkpoint: Path, model_dir: Path, *, dev_texts: int = 1000, int8: bool = True,
                     fp16: bool = True, fit_decision: bool = True) -> Path:
    """Export, gate every variant on the checkpoint's own dev split (0 texts: no validation), then fit
    the decision weights on the dev rows of the sources labelled with every class (see
    :func:`~badbuzz.models.serving.decision.calibration_rows`; ``fit_decision=False`` keeps plain argmax)."""
    from badbuzz.export.onnx_export import export, fit_decision_weights, validate
    from badbuzz.models.serving.decision import calibration_rows
    from badbuzz.models.training.train import config_from_checkpoint, load_examples

    export(checkpoint, model_dir, quantize_int8=int8, fp16=fp16)
    if dev_texts:
        _, dev = load_examples(config_from_checkpoint(checkpoint))
        sample = dev[:dev_texts]
        for r in validate(model_dir, checkpoint, [e.text for e in sample], [e.label for e in sample]):
            note = f" — not shipped: {r.rejected}" if r.rejected else ""
            print(f"[badbuzz] parity {r.variant}: max |Δp| {r.max_abs_diff:.1e}, "
                  f"label agreement {r.label_agreement:.1%}{note}")
        if fit_decision:
            n_labels = len(config_from_checkpoint(checkpoint).labels)
            rows = [dev[i] for i in calibration_rows([e.source for e in dev], [e.label for e in dev], n_labels)]
            fit = fit_decision_weights(model_dir, [e.text for e in rows], [e.label for e in rows])
            print(f"[badbuzz] decision weights {fit.weights} on {fit.texts} dev tweets: macro recall "
                  f"{fit.argmax_macro_recall:.4f} (argmax) → {fit.macro_recall:.4f}")
    return model_dir
