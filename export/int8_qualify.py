"""``badbuzz quantize``: measure a model directory's derived int8 variant against its fp32 graph and record
the verdict in the manifest (``derived.int8``), so the scorer serves int8 by default on CPUs only where it was
shown to cost at most a point of quality.

The gate is the quality guard's own rule per metric: for sentiment, the one set for a distilled student (int8
within one point of fp32 on Sentiment140 neg-vs-pos accuracy and TweetEval macro recall, and at or above the
floors 0.90 / 0.72); for emotion, the emotion guard's (within 0.03 of the published, fp32, macro-F1).
Label agreement with fp32, how much a score depends on its batch mates, the probabilities of the probe texts
(re-checked at every load, models/quantize.py) and the speed of both are recorded beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from badbuzz.export.model_dir import load_manifest
from badbuzz.models.evaluation import evaluate_scorer, load_test, model_dir_scorer
from badbuzz.models.quantize import METHOD, agreement, probe_probabilities, within_gate

# (test kind, report, metric) the quality guard checks → (floor, largest loss against fp32)
# (tests/unit/test_released_models.py)
GUARD_METRICS: dict[tuple[str, str, str], tuple[float, float]] = {
    ("sentiment140-test", "negative_vs_positive", "accuracy"): (0.90, 0.01),
    ("tweeteval-sentiment", "full", "macro_recall"): (0.72, 0.01),
    ("tweeteval-emotion", "full", "macro_f1"): (0.0, 0.03),
}


@dataclass
class Qualification:
    record: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.record["default_on_cpu"])


def qualify_int8(model_dir: Path, tests: list[tuple[str, Path]], *, max_drop: float | None = None, sub_batch: int = 16,
                 write: bool = True) -> Qualification:
    """Evaluate fp32 and the derived int8 of ``model_dir`` on ``tests``, in sub-batches of ``sub_batch`` as the
    scorer serves them (int8 scores depend slightly on batch mates); record and return the verdict."""
    import onnxruntime

    metrics: dict[str, dict[str, float]] = {"fp32": {}, "int8": {}}
    decided: dict[str, list[int]] = {"fp32": [], "int8": []}
    speed: dict[str, float] = {}
    probe: list[list[float]] = []
    batch_mates: dict[str, float] = {}
    examples = {kind: load_test(kind, path) for kind, path in tests}
    for variant in ("fp32", "int8"):
        scorer, labels, model = model_dir_scorer(model_dir, variant, sub_batch)
        for kind, rows in examples.items():
            started = time.perf_counter()
            reports = evaluate_scorer(scorer, labels, rows, bootstrap=0, weights=model.weights)
            speed[variant] = speed.get(variant, 0.0) + len(rows) / (time.perf_counter() - started)
            for (k, report, metric), _floor in GUARD_METRICS.items():
                if k == kind and report in reports:
                    metrics[variant][f"{kind}/{report}/{metric}"] = round(float(getattr(reports[report], metric)), 4)
            decided[variant] += model.predict([e.text for e in rows]).decisions().tolist()
        if variant == "int8":
            probe = np.round(probe_probabilities(model)[0].astype(np.float64), 5).tolist()
            # the same tweets with other batch mates (sub-batches of 64): how much a score depends on them
            texts = [e.text for rows in examples.values() for e in rows]
            here = _probabilities(model, texts)
            model.max_batch = 64
            other = _probabilities(model, texts)
            batch_mates = {"other_sub_batch": 64,
                           "label_agreement": round(agreement(here.argmax(1).tolist(), other.argmax(1).tolist()), 4),
                           "max_abs_diff": round(float(np.abs(here - other).max(initial=0.0)), 4)}
    floors = {f"{k}/{r}/{m}": floor for (k, r, m), (floor, _) in GUARD_METRICS.items()}
    drops = {f"{k}/{r}/{m}": drop if max_drop is None else max_drop for (k, r, m), (_, drop) in GUARD_METRICS.items()}
    passed, reasons = within_gate(metrics["fp32"], metrics["int8"], floors, drops)
    record = {
        "method": METHOD, "onnxruntime": onnxruntime.__version__,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": metrics, "max_drop": {k: v for k, v in drops.items() if k in metrics["int8"]},
        "sub_batch": sub_batch, "default_on_cpu": passed and bool(metrics["int8"]),
        "why_not": reasons if metrics["int8"] else ["no quality-guard test set given"],
        "label_agreement_vs_fp32": round(agreement(decided["fp32"], decided["int8"]), 4),
        "agreement_texts": len(decided["fp32"]),
        "tweets_per_second": {k: round(v / max(1, len(examples)), 1) for k, v in speed.items()},
        "batch_mates": batch_mates, "probe": probe,
    }
    if write:
        manifest = load_manifest(model_dir)
        manifest.derived["int8"] = record
        manifest.write(model_dir)
    return Qualification(record)


def _probabilities(model: Any, texts: list[str]) -> npt.NDArray[np.float32]:
    chunks = [model.predict(texts[i:i + 1024]).probabilities for i in range(0, len(texts), 1024)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 1), dtype=np.float32)
