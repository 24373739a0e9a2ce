"""Released models: the one model per task that ships inside the product and is served by default.

``badbuzz release MODEL_DIR --task sentiment3`` turns an exported, validated model directory into the
released one for its task (``models/serving/released/<task>/``), replacing the previous release in place:

* only what serving needs is kept: the fp32 graph, stored with fp16 weights (half the bytes, same fp32
  compute, see :mod:`badbuzz.export.weight_storage`), ``tokenizer.json``, ``config.json`` and the manifest;
* every file's SHA-256 goes into the manifest, checked by every load;
* the release is measured before it replaces anything: parity with the source on real texts (refused
  above :data:`MAX_RELEASE_DIFF`), throughput on this machine, and each ``--test`` set's metrics with
  bootstrap intervals, all written into the manifest (the model card is generated from them).

One release per task, replaced in place, so the repository holds one copy of each model. Each release
still adds its files to the git history once: release rarely, after the recipe's own evaluation says so.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from badbuzz.export.weight_storage import store_weights_fp16, store_weights_int8
from badbuzz.models.errors import BadBuzzError
from badbuzz.models.serving.model_dir import MANIFEST_NAME, ModelManifest, load_manifest, sha256_of
from badbuzz.models.serving.released import TASKS, branch_trunk

# sentiment3-fast: an opt-in shallower head on sentiment3's encoder (models/training/branch.py)
MAX_RELEASE_DIFF = 5e-3  # max |Δp| between the source fp32 model and the fp16-stored release
MIN_RELEASE_AGREEMENT = 0.995  # share of dev tweets whose label the fp16-stored weights must keep
# int8 storage rounds each weight to 1/254 of its channel's range: looser on single probabilities, still
# strict on labels (the release's test-set metrics are measured on the stored weights themselves)
PARITY_LIMITS = {"fp16": (MAX_RELEASE_DIFF, MIN_RELEASE_AGREEMENT), "int8": (0.05, 0.98)}
MAX_FILE_BYTES = 50 * 1024 * 1024
SERVING_FILES = ("tokenizer.json", "config.json")


class ReleaseError(BadBuzzError):
    """The candidate cannot become the released model (the previous release stays in place)."""


@dataclass
class ReleaseReport:
    target: str
    files: dict[str, int]
    total_bytes: int
    parity_texts: int
    max_abs_diff: float
    label_agreement: float
    tweets_per_second: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def release(source: Path, target: Path, *, task: str, texts: list[str], recipe: str = "",
            checkpoint: str = "", storage: str = "fp16", languages: list[str] | None = None) -> ReleaseReport:
    """Build the release in a sibling folder, measure it, then swap it in for ``target``.

    ``storage``: how the weights are kept in the file (fp16, or int8 per channel for a model too large for
    fp16 under the 50 MB limit); ``languages``: the languages it was validated on (the scorer routes only
    those to it)."""
    from badbuzz.models.serving.inference import OnnxSentimentModel

    if task not in TASKS:
        raise ReleaseError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    if not texts:
        raise ReleaseError("a release needs texts to measure its parity and speed on")
    src = load_manifest(source)
    if "fp32" not in src.variants:
        raise ReleaseError(f"{source} has no fp32 variant to release (variants: {sorted(src.variants)})")
    target = Path(target)
    staging = target.parent / f".{target.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if storage not in PARITY_LIMITS:
            raise ReleaseError(f"unknown weight storage {storage!r}; choose from {', '.join(PARITY_LIMITS)}")
        store = store_weights_int8 if storage == "int8" else store_weights_fp16
        store(source / src.variants["fp32"], staging / "model.onnx")
        for name in (src.tokenizer, *SERVING_FILES):
            if (source / name).is_file():
                shutil.copy(source / name, staging / name)
        released_at = datetime.now(UTC)
        manifest = ModelManifest(**{**asdict(src), "variants": {"fp32": "model.onnx"}, "weight_storage": storage,
                                    "languages": list(languages if languages is not None else src.languages),
                                    "parity": {}, "files": {},
                                    # what dashboards and the model_versions table show: task and release time
                                    "version": f"{task}-{released_at:%Y%m%d%H%M%S}"})
        trunk_dir = branch_trunk(source, src) if src.trunk else None
        if trunk_dir is not None:  # where the trunk will be seen from the released folder
            manifest.trunk = {**src.trunk, "dir": os.path.relpath(trunk_dir.resolve(), target.resolve())}
        manifest.files = {p.name: sha256_of(p) for p in sorted(staging.iterdir()) if p.name != MANIFEST_NAME}
        sizes = {p.name: p.stat().st_size for p in sorted(staging.iterdir())}
        too_big = [f"{n} ({s:,} bytes)" for n, s in sizes.items() if s > MAX_FILE_BYTES]
        if too_big:
            raise ReleaseError(f"release files over {MAX_FILE_BYTES:,} bytes: {', '.join(too_big)}")
        manifest.write(staging)
        reference = OnnxSentimentModel(source, device="cpu", variant="fp32").predict(texts).probabilities
        released = OnnxSentimentModel(staging, device="cpu")  # a branch runs as a head on its trunk
        started = time.perf_counter()
        probs = released.predict(texts).probabilities
        speed = len(texts) / (time.perf_counter() - started)
        diff = float(abs(probs - reference).max())
        agreement = float((probs.argmax(1) == reference.argmax(1)).mean())
        max_diff, min_agreement = PARITY_LIMITS[storage]
        if diff > max_diff or agreement < min_agreement:
            raise ReleaseError(f"{storage} weight storage moves probabilities by up to {diff:.1e} (limit "
                               f"{max_diff:.0e}) and keeps {agreement:.2%} of labels (limit "
                               f"{min_agreement:.1%}); the previous release stays")
        manifest.parity = {"fp32": {"texts": len(texts), "max_abs_diff_vs_source": diff,
                                    "label_agreement_vs_source": agreement}, "source": src.parity}
        manifest.release = {
            "task": task, "released_at": released_at.isoformat(timespec="seconds"), "recipe": recipe,
            "checkpoint": checkpoint, "source_version": src.version,
            "speed": {"tweets_per_second": round(speed, 1), "texts": len(texts), "threads": os.cpu_count(),
                      "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, onnxruntime CPU"},
        }
        manifest.write(staging)
        load_manifest(staging)  # the checksums just written verify
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.parent / f".{target.name}.previous"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return ReleaseReport(target=str(target), files=sizes, total_bytes=sum(sizes.values()), parity_texts=len(texts),
                         max_abs_diff=diff, label_agreement=agreement, tweets_per_second=round(speed, 1))


def record_test_metrics(model_dir: Path, results: dict[str, dict[str, Any]]) -> None:
    """Store test-set metrics (with their intervals) in a released manifest; checksums are unaffected."""
    manifest = load_manifest(model_dir)
    tests = dict(manifest.metrics.get("tests", {}))
    tests.update(results)
    manifest.metrics = {**manifest.metrics, "tests": tests}
    manifest.write(model_dir)


def describe(model_dir: Path) -> dict[str, Any]:
    """The manifest as a plain dict (for the model card), after checking the directory loads."""
    load_manifest(model_dir)
    doc: dict[str, Any] = json.loads((model_dir / MANIFEST_NAME).read_text())
    return doc
