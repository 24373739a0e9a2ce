"""The self-describing model directory that export writes and the scorer reads.

Layout::

    model.onnx            fp32 graph (model.fp16.onnx / model.int8.onnx when exported)
    tokenizer.json        fast tokenizer (plus the Hugging Face tokenizer files)
    badbuzz-model.json    this manifest: labels, max length, preprocessing version, variants, metrics,
                          and, for released models, the SHA-256 of every other file

The scorer calls :func:`load_manifest` and refuses anything incomplete or altered with a message that
names the missing or damaged piece, instead of failing later inside ONNX Runtime or, worse, serving a
half-copied model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from badbuzz.models.errors import BadBuzzError
from badbuzz.models.serving.preprocessing import get_preprocessor

MANIFEST_NAME = "badbuzz-model.json"
FORMAT = "badbuzz-model/1"


class InvalidModelDir(BadBuzzError):
    """A model directory the scorer cannot serve; the message says what is wrong and how to fix it."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksums(model_dir: Path, files: dict[str, str]) -> None:
    """Every file the manifest lists exists and hashes to its recorded SHA-256 (a git checkout interrupted,
    an LFS pointer instead of the file, a disk error, a hand-edited graph all end here, at start-up)."""
    for name, expected in sorted(files.items()):
        path = model_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise InvalidModelDir(f"{model_dir}: manifest lists {name!r}, which is outside the model directory")
        if not path.is_file():
            raise InvalidModelDir(f"{model_dir} lacks {name}, listed with its checksum in {MANIFEST_NAME}")
        actual = sha256_of(path)
        if actual != expected:
            raise InvalidModelDir(
                f"{path} is damaged or was replaced: SHA-256 {actual[:16]}…, the manifest says {expected[:16]}… "
                f"({path.stat().st_size:,} bytes). Restore it (e.g. `git checkout -- {model_dir}`) or release "
                "a new model with `badbuzz release`.")


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
    decision_weights: dict[str, float] | None = None  # label = argmax p·w, fitted on dev (models/serving/decision.py)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_hash: str = ""
    parity: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    format: str = FORMAT
    weight_storage: str = "fp32"  # "fp16": large weights stored in half precision (export/weight_storage.py)
    files: dict[str, str] = field(default_factory=dict)  # file name → SHA-256, checked at every load
    release: dict[str, Any] = field(default_factory=dict)  # task, recipe, source checkpoint (export/release.py)
    # a branch (models/training/branch.py) runs on another model's encoder: that model's version, the SHA-256 of its
    # graph file, the tensor it reads, and where it usually lives (relative to this directory)
    trunk: dict[str, Any] = field(default_factory=dict)
    # variants made from the fp32 graph at load (models/serving/quantize.py), with what was measured of them:
    # {"int8": {"method", "onnxruntime", "metrics", "gate", "default_on_cpu", "probe", ...}}
    derived: dict[str, Any] = field(default_factory=dict)
    # languages (ISO 639-1) the model was validated on; the scorer sends it only tweets in these (empty: any
    # language, for a model trained on a user's own data); see models/serving/routing.py
    languages: list[str] = field(default_factory=list)

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
    if not manifest.trunk and not (model_dir / manifest.tokenizer).is_file():
        raise InvalidModelDir(f"{model_dir} lacks its tokenizer file {manifest.tokenizer}")
    weights = manifest.decision_weights
    if weights is not None and (
        set(weights) != set(manifest.labels)
        or not all(isinstance(w, int | float) and 0 < w < float("inf") for w in weights.values())
    ):
        raise InvalidModelDir(f"{path}: decision_weights must give one positive number per label "
                              f"{manifest.labels}, got {weights}")
    if not isinstance(manifest.files, dict):
        raise InvalidModelDir(f"{path}: 'files' must map file names to SHA-256 digests")
    verify_checksums(model_dir, manifest.files)
    if not manifest.variants:
        raise InvalidModelDir(f"{path} lists no ONNX variants")
    for variant, name in manifest.variants.items():
        if not (model_dir / name).is_file():
            raise InvalidModelDir(f"{model_dir} lacks {name} (variant {variant!r}) named by its manifest")
    return manifest
