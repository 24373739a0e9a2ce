"""A second head on the served encoder: emotion read from the sentiment model's own hidden states.

Running a separate emotion model beside the sentiment model costs a second encoder per batch (measured at
0.55× the sentiment-only rate, and the two ONNX sessions slow each other). A *branch* instead copies the
top ``layers`` transformer layers, pooler and classifier of a trained emotion model and is fine-tuned on
the sentiment model's (frozen, served) hidden states at that depth: the sentiment model runs once, and the
branch adds ``layers`` of its layers on top. It learns from the emotion model's probabilities over every
training tweet (distillation) plus the labelled emotion tweets.

At load, :func:`merge_branch` splices the branch into the sentiment graph, so one ONNX Runtime session
returns both heads. The branch directory names the exact sentiment model file it was trained on (SHA-256):
with any other sentiment model it is refused with a clear error instead of producing quiet nonsense.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from badbuzz.models.serving.branch_graph import (
    count_layers,
    expose,
    layer_output,
)

META = "branch.json"


def branch_module(checkpoint: str | Path, layers: int) -> Any:
    """The top ``layers`` layers and the classification head of a BERT or DistilBERT classification
    checkpoint, as a module ``(hidden_states, attention_mask) → logits``."""
    import torch
    from transformers import AutoModelForSequenceClassification

    source = AutoModelForSequenceClassification.from_pretrained(str(checkpoint), attn_implementation="eager")
    encoder: Any = getattr(source, source.base_model_prefix, None)
    if encoder is not None and hasattr(encoder, "encoder") and getattr(encoder, "pooler", None) is not None:
        blocks, distil = list(encoder.encoder.layer), False  # BERT, MiniLM: pooler (tanh on [CLS]) + classifier
    elif encoder is not None and hasattr(encoder, "transformer"):
        blocks, distil = list(encoder.transformer.layer), True  # DistilBERT: pre_classifier + ReLU + classifier
    else:
        raise ValueError(f"{checkpoint}: a branch needs a BERT or DistilBERT classifier, got {type(source).__name__}")
    total = len(blocks)
    if not 0 <= layers <= total:
        raise ValueError(f"a branch takes between 0 and {total} layers, not {layers}")

    class Branch(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList(blocks[total - layers:])
            self.dropout = source.dropout
            self.classifier = source.classifier
            if distil:
                self.pre_classifier = source.pre_classifier
            else:
                self.pooler = encoder.pooler

        def forward(self, hidden_states: Any, attention_mask: Any) -> Any:
            if distil:
                for layer in self.layers:
                    hidden_states = layer(hidden_states, attn_mask=attention_mask)[0]
                pooled = torch.relu(self.pre_classifier(hidden_states[:, 0]))
            else:
                mask = attention_mask[:, None, None, :].to(hidden_states.dtype)
                extended = (1.0 - mask) * torch.finfo(hidden_states.dtype).min
                for layer in self.layers:
                    hidden_states = layer(hidden_states, attention_mask=extended)[0]
                pooled = self.pooler(hidden_states)
            return self.classifier(self.dropout(pooled))

    module = Branch()
    module.labels = [source.config.id2label[i] for i in range(source.config.num_labels)]
    module.total_layers = total
    return module


# --------------------------------------------------------------------------------------------- features
@dataclass
class Features:
    """Hidden states of many texts, flattened: text ``i`` owns rows ``offsets[i]:offsets[i + 1]``."""

    states: npt.NDArray[np.float16]
    offsets: npt.NDArray[np.int64]

    def batch(self, idx: Sequence[int] | npt.NDArray[np.int64]
              ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        lengths = [int(self.offsets[i + 1] - self.offsets[i]) for i in idx]
        width = max(lengths)
        x = np.zeros((len(idx), width, self.states.shape[1]), np.float32)
        m = np.zeros((len(idx), width), np.int64)
        for r, i in enumerate(idx):
            x[r, : lengths[r]] = self.states[self.offsets[i] : self.offsets[i + 1]]
            m[r, : lengths[r]] = 1
        return x, m


def trunk_features(trunk_dir: Path, texts: Sequence[str], layer: int, *, threads: int = 0,
                   desc: str = "trunk") -> Features:
    """The served sentiment model's hidden states after encoder layer ``layer`` for every text, computed by
    the same ONNX graph, preprocessing and tokenizer the scorer uses (what the branch will see live)."""
    import onnx
    from tqdm.auto import tqdm

    from badbuzz.models.serving.inference import OnnxSentimentModel

    model = OnnxSentimentModel(trunk_dir, device="cpu", threads=threads)
    proto = onnx.load(str(model.trunk_dir / model.trunk.variants[model.variant]))
    tensor = layer_output(proto.graph, layer)
    session = model._open(expose(proto, tensor).SerializeToString(), ["CPUExecutionProvider"])
    encodings = model.encode(texts)
    lengths = np.array([len(e) for e in encodings], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    states: npt.NDArray[np.float16] | None = None
    order = np.argsort(lengths, kind="stable")
    with tqdm(total=len(texts), desc=desc, unit="tweet") as bar:
        for s in range(0, len(order), 64):
            idx = order[s : s + 64]
            feeds = model.feeds([encodings[i] for i in idx])
            (hidden,) = session.run([tensor], feeds)
            if states is None:
                states = np.zeros((int(offsets[-1]), hidden.shape[2]), np.float16)
            for r, i in enumerate(idx):
                states[offsets[i] : offsets[i + 1]] = hidden[r, : lengths[i]]
            bar.update(len(idx))
    return Features(states if states is not None else np.zeros((0, 1), np.float16), offsets)


# --------------------------------------------------------------------------------------------- training
@dataclass
class BranchConfig:
    trunk: Path  # the released sentiment model directory the branch will run on
    init: Path  # the emotion checkpoint whose top layers and head start the branch
    teacher: Path  # the emotion model directory (ONNX) whose probabilities the branch learns
    output_dir: Path
    labelled: list[tuple[str, Path]] = field(default_factory=list)  # e.g. ("tweeteval-emotion", folder)
    unlabelled: list[tuple[str, Path]] = field(default_factory=list)  # texts the teacher labels
    layers: int = 2
    # the trunk layer (0-based) whose output the branch reads; None: the one below the layers it replaces
    # (a branch of 2 layers on a 6-layer trunk reads layer 3). Reading lower makes a cheaper, shallower model.
    read_layer: int | None = None
    max_steps: int = 3000
    batch_size: int = 32
    labelled_per_batch: int = 8  # of each batch, rows drawn from the labelled (non-dev) tweets
    learning_rate: float = 5e-5
    hard_weight: float = 1.0  # weight of the gold-label loss beside the distillation loss
    dev_percent: int = 10
    eval_every: int = 250
    patience: int = 4
    seed: int = 13
    threads: int = 0
    resume: bool = False


def _texts(cfg: BranchConfig, labels: list[str]) -> tuple[list[str], list[int], list[int], list[str]]:
    """(texts, gold label or -1, dev flags, source set): labelled rows split into train/dev by the training
    code's stable hash, then the unlabelled texts not already present."""
    from badbuzz.models.training import datasets
    from badbuzz.models.training.train import _source, normalised_text

    parts = datasets.split(datasets.combine(*(_source(k, p) for k, p in cfg.labelled), labels=labels),
                           dev_percent=cfg.dev_percent)
    texts = [e.text for e in parts["train"]] + [e.text for e in parts["dev"]]
    gold = [labels.index(e.label) for e in parts["train"] + parts["dev"]]
    sources = [e.source for e in parts["train"] + parts["dev"]]
    dev = [0] * len(parts["train"]) + [1] * len(parts["dev"])
    seen = {normalised_text(t) for t in texts}
    for kind, path in cfg.unlabelled:
        for e in _source(kind, path):
            key = normalised_text(e.text)
            if key and key not in seen:
                seen.add(key)
                texts.append(e.text)
                gold.append(-1)
                dev.append(0)
                sources.append(f"unlabelled:{kind}")
    return texts, gold, dev, sources


def dev_texts(run_dir: Path) -> list[str]:
    """The labelled dev tweets of a branch run (to measure a release's parity and speed on)."""
    meta = json.loads((Path(run_dir) / META).read_text())
    c = meta["config"]
    cfg = BranchConfig(trunk=Path(c["trunk"]), init=Path(c["init"]), teacher=Path(c["teacher"]),
                       output_dir=Path(run_dir), labelled=[(k, Path(p)) for k, p in c["labelled"]],
                       dev_percent=int(c["dev_percent"]))
    texts, _, dev, _ = _texts(cfg, list(meta["labels"]))
    return [t for t, d in zip(texts, dev, strict=True) if d]


def _cached(path: Path, make: Any) -> Any:
    if path.is_file():
        return np.load(path)
    value = make()
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, value)
    tmp.replace(path)
    return value


def train_branch(cfg: BranchConfig) -> Path:
    """Train a branch; checkpoints every ``eval_every`` steps (``resume`` continues from the last one), the
    best dev macro-F1 kept, early stopping after ``patience`` evaluations without gain, a curve PNG."""
    import onnx
    import torch
    from tqdm.auto import tqdm

    from badbuzz.models.serving.inference import OnnxSentimentModel
    from badbuzz.models.serving.model_dir import load_manifest, sha256_of
    from badbuzz.models.training.train import plot_history

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    module = branch_module(cfg.init, cfg.layers)
    labels: list[str] = module.labels
    trunk_manifest = load_manifest(cfg.trunk)
    trunk_file = cfg.trunk / trunk_manifest.variants["fp32"]
    n_layers = count_layers(onnx.load(str(trunk_file), load_external_data=False).graph)
    if n_layers != module.total_layers:
        raise ValueError(f"trunk {cfg.trunk} has {n_layers} layers, the branch's source {module.total_layers}")
    layer = n_layers - cfg.layers - 1 if cfg.read_layer is None else cfg.read_layer
    if not 0 <= layer < n_layers:
        raise ValueError(f"the trunk has layers 0..{n_layers - 1}; cannot read layer {layer}")

    texts, gold_list, dev_list, sources = _texts(cfg, labels)
    gold, is_dev = np.array(gold_list), np.array(dev_list, dtype=bool)
    states = _cached(out / "cache-states.npy", lambda: _features(cfg, texts, layer, out).states)
    offsets = np.load(out / "cache-offsets.npy")
    features = Features(states, offsets)
    teacher_model = OnnxSentimentModel(cfg.teacher, device="cpu", threads=cfg.threads)
    if teacher_model.labels != labels:
        raise ValueError(f"teacher labels {teacher_model.labels} differ from the branch's {labels}")

    def teach() -> npt.NDArray[np.float32]:
        parts = []
        for s in tqdm(range(0, len(texts), 1024), desc="teacher", unit="k tweets"):
            parts.append(teacher_model.predict(texts[s : s + 1024]).probabilities)
        return np.concatenate(parts)

    soft = _cached(out / "cache-teacher.npy", teach)
    train_idx = np.flatnonzero(~is_dev)
    labelled_idx = np.flatnonzero(~is_dev & (gold >= 0))
    dev_idx = np.flatnonzero(is_dev)

    def predict(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        module.eval()
        outs = []
        with torch.no_grad():
            for s in range(0, len(idx), 128):
                x, m = features.batch(idx[s : s + 128])
                outs.append(torch.softmax(module(torch.from_numpy(x), torch.from_numpy(m)), -1).numpy())
        module.train()
        return np.concatenate(outs) if outs else np.zeros((0, len(labels)), np.float32)

    optimizer = torch.optim.AdamW(module.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    warmup = max(1, cfg.max_steps // 30)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (cfg.max_steps - s) / cfg.max_steps))
    state_path = out / "resume.pt"
    step, history, best, stale = 0, [], {"dev_macro_f1": -1.0, "step": 0}, 0
    rng = random.Random(cfg.seed)
    if cfg.resume and state_path.is_file():
        saved = torch.load(state_path, weights_only=False)
        module.load_state_dict(saved["module"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        step, history, best, stale = saved["step"], saved["history"], saved["best"], saved["stale"]
        rng.setstate(saved["rng"])
    started = time.time()
    bar = tqdm(total=cfg.max_steps, initial=step, desc="branch", unit="step")
    while step < cfg.max_steps and stale < cfg.patience:
        n_lab = min(cfg.labelled_per_batch, len(labelled_idx))
        idx = ([int(train_idx[rng.randrange(len(train_idx))]) for _ in range(cfg.batch_size - n_lab)]
               + [int(labelled_idx[rng.randrange(len(labelled_idx))]) for _ in range(n_lab)])
        x, m = features.batch(idx)
        logp = torch.log_softmax(module(torch.from_numpy(x), torch.from_numpy(m)), -1)
        loss = torch.nn.functional.kl_div(logp, torch.from_numpy(soft[idx]).float(), reduction="batchmean")
        hard = torch.from_numpy(gold[idx])
        chosen = hard >= 0
        if bool(chosen.any()):
            loss = loss + cfg.hard_weight * torch.nn.functional.nll_loss(logp[chosen], hard[chosen])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        bar.update(1)
        record: dict[str, float] = {"step": step, "loss": float(loss.item())}
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            probs = predict(dev_idx)
            score = _macro_f1(gold[dev_idx], probs.argmax(1), len(labels)) if len(dev_idx) else 0.0
            record["dev_accuracy"] = float((probs.argmax(1) == gold[dev_idx]).mean()) if len(dev_idx) else 0.0
            record["dev_macro_f1"] = score
            bar.set_postfix(dev_f1=f"{score:.4f}")
            if score > best["dev_macro_f1"]:
                best, stale = {"dev_macro_f1": score, "step": step}, 0
                torch.save(module.state_dict(), out / "best.pt")
            else:
                stale += 1
            history.append(record)
            torch.save({"module": module.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "step": step, "history": history, "best": best,
                        "stale": stale, "rng": rng.getstate()}, state_path)
        else:
            history.append(record)
    bar.close()
    module.load_state_dict(torch.load(out / "best.pt"))
    dev_probs = predict(dev_idx)
    np.save(out / "dev-probs.npy", dev_probs)
    np.save(out / "dev-gold.npy", gold[dev_idx])
    np.save(out / "dev-mask.npy", is_dev)
    (out / "dev-sources.json").write_text(json.dumps([sources[i] for i in dev_idx]))
    meta = {"config": _jsonable(asdict(cfg)), "labels": labels, "layer": layer, "layers": cfg.layers,
            "trunk_version": trunk_manifest.version, "trunk_sha256": sha256_of(trunk_file),
            "trunk_preprocessing": trunk_manifest.preprocessing, "trunk_max_length": trunk_manifest.max_length,
            "best": best, "steps": step, "seconds": round(time.time() - started, 1), "rows": len(texts),
            "labelled_rows": int((gold >= 0).sum()), "dev_rows": len(dev_idx), "history": history}
    (out / META).write_text(json.dumps(meta, indent=2) + "\n")
    plot_history([{"step": h["step"], "loss": h["loss"], **({"dev_accuracy": h["dev_macro_f1"]}
                   if "dev_macro_f1" in h else {})} for h in history], out / "training_curve.png")
    return out


def _macro_f1(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], n: int) -> float:
    from badbuzz.models.training.metrics import confusion, precision_recall_f

    m = confusion(y, pred, n)
    return float(np.mean([precision_recall_f(m, c)[2] for c in range(n)]))


def _features(cfg: BranchConfig, texts: list[str], layer: int, out: Path) -> Features:
    f = trunk_features(cfg.trunk, texts, layer, threads=cfg.threads)
    np.save(out / "cache-offsets.npy", f.offsets)
    return f


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v
