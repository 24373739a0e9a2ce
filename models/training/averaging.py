"""Average the weights of several fine-tuned checkpoints into one ("model soup").

Two runs of the same recipe that differ only in seed end in the same basin of the loss surface when they
start from the same pretrained encoder, so the element-wise mean of their weights is itself a good model,
usually better than either on held-out data (Wortsman et al., 2022, "Model soups"), at the inference cost
of one model. That is what the scorer needs: one ONNX graph, not an ensemble of several.

Averaging is only meaningful between checkpoints of the same architecture, label set, preprocessing and
training data split; anything else is refused, because the dev split used to measure the average would
then overlap some component's training rows and flatter it.

One exception: a checkpoint fine-tuned further (on more data) may be mixed with the checkpoint it started
from, its ``base_model`` ("WiSE-FT", Wortsman et al., 2022): the mix keeps most of what the base knew while
taking part of what the new data taught. The base must have been trained on a subset of the same sources
with the same dev share; the fine-tuned checkpoint's dev split measures the mix, and the number of those
dev rows the base trained on (rows near the split boundary, when the added data moves it) is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from badbuzz.models.training.train import TRAINING_META, config_from_checkpoint, evaluate, load_examples

# training.json fields that must agree between the averaged checkpoints
_MUST_MATCH = ("labels", "preprocessing", "max_length", "data_hash")
_SPLIT_KEYS = ("dev_percent", "sources", "data")


@dataclass(frozen=True)
class AverageResult:
    output: Path
    components: list[dict[str, Any]]  # as recorded under "averaged_from" in training.json
    dev_accuracy: float
    dev_macro_recall: float
    dev_rows: int = 0
    dev_rows_in_a_base: int = 0  # dev rows a base component was trained on (0 unless mixing with a base)


def is_base_of(meta: dict[str, Any], path: Path) -> bool:
    """Whether ``path`` is the checkpoint that the run described by ``meta`` started from."""
    base = meta.get("config", {}).get("base_model")
    return bool(base) and Path(base).resolve() == Path(path).resolve()


def check_compatible(metas: Sequence[dict[str, Any]], paths: Sequence[Path]) -> None:
    """Raise ValueError naming the first field on which the checkpoints disagree."""
    first = metas[0]
    for path, meta in zip(paths[1:], metas[1:], strict=True):
        if is_base_of(first, path):
            _check_base(first, meta, paths[0], path)
            continue
        for key in _MUST_MATCH:
            if meta.get(key) != first.get(key):
                raise ValueError(f"cannot average {paths[0]} and {path}: different {key} "
                                 f"({first.get(key)!r} vs {meta.get(key)!r})")
        for key in _SPLIT_KEYS:
            if _split_value(meta.get("config", {}), key) != _split_value(first.get("config", {}), key):
                raise ValueError(f"cannot average {paths[0]} and {path}: trained on a different split "
                                 f"(config {key} differs), so no dev set is held out from both")


def _split_value(config: dict[str, Any], key: str) -> Any:
    """A config value as it bears on the dev split: data files by kind and file name, not by the path they
    were given with (a recipe passes absolute paths, a shell history relative ones; the split is the same)."""
    value = config.get(key)
    if key == "sources":
        return sorted((str(kind), Path(path).name) for kind, path in value or [])
    if key == "data":
        return Path(value).name if value else value
    return value


def _check_base(first: dict[str, Any], base: dict[str, Any], first_path: Path, base_path: Path) -> None:
    for key in ("labels", "preprocessing"):
        if base.get(key) != first.get(key):
            raise ValueError(f"cannot mix {first_path} with its base {base_path}: different {key}")
    fc, bc = first.get("config", {}), base.get("config", {})
    if fc.get("dev_percent") != bc.get("dev_percent") or _split_value(fc, "data") != _split_value(bc, "data"):
        raise ValueError(f"cannot mix {first_path} with its base {base_path}: different dev share or data file")
    if not set(_split_value(bc, "sources")) <= set(_split_value(fc, "sources")):
        raise ValueError(f"cannot mix {first_path} with its base {base_path}: the base was trained on sources "
                         f"the fine-tuned run does not hold out a dev split of")


def mix_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    """Normalised mixing weights (uniform by default); refuses wrong counts and non-positive weights."""
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ValueError(f"{len(weights)} weights for {n} checkpoints")
    if any(w <= 0 for w in weights):
        raise ValueError("averaging weights must be positive")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def average_state_dicts(states: Sequence[dict[str, Any]], weights: Sequence[float]) -> dict[str, Any]:
    """Weighted mean of floating-point tensors; integer buffers (position ids) are taken from the first."""
    keys = set(states[0])
    for i, state in enumerate(states[1:], start=1):
        if set(state) != keys:
            raise ValueError(f"checkpoint {i} has different parameters than checkpoint 0 (another architecture?)")
    out: dict[str, Any] = {}
    for key, first in states[0].items():
        if any(s[key].shape != first.shape for s in states):
            raise ValueError(f"parameter {key} has different shapes across checkpoints")
        if first.is_floating_point():
            out[key] = sum(w * s[key].float() for w, s in zip(weights, states, strict=True)).to(first.dtype)
        else:
            out[key] = first.clone()
    return out


def average_checkpoints(paths: Sequence[Path], output: Path, weights: Sequence[float] | None = None) -> AverageResult:
    """Write the averaged checkpoint to ``output`` (loadable by ``badbuzz export`` like any other) and
    measure it on the shared dev split; ``training.json`` records the components and their scores."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if len(paths) < 2:
        raise ValueError("averaging needs at least two checkpoints")
    metas = []
    for path in paths:
        meta_file = Path(path) / TRAINING_META
        if not meta_file.is_file():
            raise ValueError(f"{path} is not a training checkpoint (no {TRAINING_META})")
        metas.append(json.loads(meta_file.read_text()))
    check_compatible(metas, paths)
    mix = mix_weights(len(paths), weights)
    models = [AutoModelForSequenceClassification.from_pretrained(p) for p in paths]
    model = models[0]
    model.load_state_dict(average_state_dicts([m.state_dict() for m in models], mix))
    del models[1:]
    tokenizer = AutoTokenizer.from_pretrained(paths[0])
    _, dev = load_examples(config_from_checkpoint(Path(paths[0])))
    first = metas[0]
    dev_rows_in_a_base = 0
    for path in paths[1:]:
        if is_base_of(first, path):
            base_train, _ = load_examples(config_from_checkpoint(Path(path)))
            seen = {e.text for e in base_train}
            dev_rows_in_a_base = max(dev_rows_in_a_base, sum(e.text in seen for e in dev))
    labels = list(first["labels"])
    acc, macro_recall = evaluate(model, tokenizer, dev, int(first["max_length"]), torch.device("cpu"), len(labels))
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    components = [{"checkpoint": str(p), "weight": w, "seed": m.get("config", {}).get("seed"),
                   "best_step": m.get("best_step"), "metrics": m.get("metrics") or {}}
                  for p, w, m in zip(paths, mix, metas, strict=True)]
    meta = {**{k: v for k, v in first.items() if k != "history"},
            # the cost of the average is the cost of all its runs
            "train_seconds": round(sum(float(m.get("train_seconds") or 0.0) for m in metas), 1),
            "best_step": None,
            "metrics": {"dev_accuracy": acc, "dev_macro_recall": macro_recall, "dev_rows": len(dev),
                        "dev_rows_in_a_base": dev_rows_in_a_base},
            "averaged_from": components}
    (output / TRAINING_META).write_text(json.dumps(meta, indent=2))
    return AverageResult(output=output, components=components, dev_accuracy=acc, dev_macro_recall=macro_recall,
                         dev_rows=len(dev), dev_rows_in_a_base=dev_rows_in_a_base)
