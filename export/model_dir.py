"""The self-describing model directory that export writes and the scorer reads.

Layout::

    model.onnx            fp32 graph (model.fp16.onnx / model.int8.onnx when exported)
    tokenizer.json        fast tokenizer (plus the Hugging Face tokenizer files)
    badbuzz-model.json    this manifest: labels, max length, preprocessing version, variants, metrics, ...

The scorer calls :func:`load_manifest` and refuses anything incomplete with a message that names the
missing piece, instead of failing later inside ONNX Runtime.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from badbuzz.models.preprocessing import get_preprocessor
from badbuzz.stream.errors import BadBuzzError

MANIFEST_NAME = "badbuzz-model.json"
FORMAT = "badbuzz-model/1"


class InvalidModelDir(BadBuzzError):
    """A model directory the scorer cannot serve; the message says what is wrong and how to fix it."""


@dataclass
class ModelManifest:
    version: str
    labels: list[str]
    max_length: int
    preprocessing: str
    variants: dict[str, str]
    tokenizer: str = "tokenizer.json"
    negative_label: str = "negative"
    base_model: str = ""
    task: str = "sentiment"
    threshold: float | None = None  # binary models: p(negative) above which a tweet is negative
    decision_weights: dict[str, float] | None = None  # label = argmax p·w, fitted on dev (models/decision.py)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_hash: str = ""
    parity: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    format: str = FORMAT

    def write(self, model_dir: Path) -> Path:
        path = model_dir / MANIFEST_NAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path


def load_manifest(model_dir: Path) -> ModelManifest:
    """Read and check a model directory; raise :class:`InvalidModelDir` on anything the scorer cannot use."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise InvalidModelDir(f"model directory {model_dir} does not exist (train and export one first)")
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise InvalidModelDir(f"{model_dir} has no {MANIFEST_NAME}: it was not written by `badbuzz export`")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidModelDir(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidModelDir(f"{path} has format {doc.get('format')!r}; this badbuzz reads {FORMAT!r}")
    known = set(ModelManifest.__dataclass_fields__)
    missing = {"version", "labels", "max_length", "preprocessing", "variants"} - doc.keys()
    if missing:
        raise InvalidModelDir(f"{path} lacks {', '.join(sorted(missing))}")
    manifest = ModelManifest(**{k: v for k, v in doc.items() if k in known})
    try:
        get_preprocessor(manifest.preprocessing)
    except ValueError as exc:
        raise InvalidModelDir(f"{model_dir}: {exc}") from None
    if manifest.negative_label not in manifest.labels:
        raise InvalidModelDir(f"{path}: negative label {manifest.negative_label!r} not in {manifest.labels}")
    if not (model_dir / manifest.tokenizer).is_file():
        raise InvalidModelDir(f"{model_dir} lacks its tokenizer file {manifest.tokenizer}")
    weights = manifest.decision_weights
    if weights is not None and (
        set(weights) != set(manifest.labels)
        or not all(isinstance(w, int | float) and 0 < w < float("inf") for w in weights.values())
    ):
        raise InvalidModelDir(f"{path}: decision_weights must give one positive number per label "
                              f"{manifest.labels}, got {weights}")
    if not manifest.variants:
        raise InvalidModelDir(f"{path} lists no ONNX variants")
    for variant, name in manifest.variants.items():
        if not (model_dir / name).is_file():
            raise InvalidModelDir(f"{model_dir} lacks {name} (variant {variant!r}) named by its manifest")
    return manifest
