"""``badbuzz quantize``: measure a model directory's derived int8 variant against its fp32 graph and record
the verdict in the manifest (``derived.int8``), so the scorer serves int8 by default on CPUs only where it was
shown to cost at most a point of quality.

The gate is the quality guard's own rule per metric: for sentiment, the one set for a distilled student (int8
within one point of fp32 on Sentiment140 neg-vs-pos accuracy and TweetEval macro recall, and at or above the
floors 0.90 / 0.72); for emotion, the emotion guard's (within 0.03 of the published, fp32, macro-F1).
Each int8 scheme (which MatMuls stay in fp32, models/serving/quantize.py) is tried in turn and the first within
the gate is recorded, with the figures of those that missed it.
Label agreement with fp32, how much a score depends on its batch mates, the probabilities of the probe texts
(re-checked at every load, models/serving/quantize.py) and the speed of both are recorded beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from badbuzz.models.serving.decision import decide
from badbuzz.models.serving.model_dir import load_manifest
from badbuzz.models.serving.quantize import METHOD, SCHEMES, probe_probabilities, within_gate
from badbuzz.models.training.datasets import UMSAB_LANGUAGES
from badbuzz.models.training.evaluation import SERVED_SUB_BATCH, evaluate_scorer, load_test, model_dir_scorer

# (test kind, report, metric) the quality guard checks → (floor, largest loss against fp32)
# (tests/unit/test_released_models.py)
GUARD_METRICS: dict[tuple[str, str, str], tuple[float, float]] = {
    ("sentiment140-test", "negative_vs_positive", "accuracy"): (0.90, 0.01),
    ("tweeteval-sentiment", "full", "macro_recall"): (0.72, 0.01),
    ("tweeteval-emotion", "full", "macro_f1"): (0.0, 0.03),
    # the multilingual model, per language of UMSAB's validation split (324 tweets each: two points of
    # macro-F1 is about six tweets, the smallest loss told apart from batch-mate noise)
    **{(f"umsab-{lang}", "full", "macro_f1"): (0.0, 0.02) for lang in UMSAB_LANGUAGES},
}


@dataclass
class Qualification:
    record: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.record["default_on_cpu"])


def qualify_int8(model_dir: Path, tests: list[tuple[str, Path]], *, max_drop: float | None = None,
                 sub_batch: int = SERVED_SUB_BATCH, write: bool = True) -> Qualification:
    """Evaluate fp32 and the derived int8 of ``model_dir`` on ``tests``, in sub-batches of ``sub_batch`` as the
    scorer serves them (int8 scores depend slightly on batch mates); record and return the verdict."""
    import onnxruntime

    examples = {kind: load_test(kind, path) for kind, path in tests}
    n_texts = sum(len(rows) for rows in examples.values())
    floors = {f"{k}/{r}/{m}": floor for (k, r, m), (floor, _) in GUARD_METRICS.items()}
    drops = {f"{k}/{r}/{m}": drop if max_drop is None else max_drop for (k, r, m), (_, drop) in GUARD_METRICS.items()}
    fp32 = _measure(model_dir, "fp32", None, examples, sub_batch)
    # each scheme in turn (models/serving/quantize.py), the first within the gate recorded: int8 weights for as
    # many MatMuls as hold the model's quality
    tried: dict[str, dict[str, Any]] = {}
    for scheme in SCHEMES:
        int8 = _measure(model_dir, "int8", scheme, examples, sub_batch)
        passed, reasons = within_gate(fp32.metrics, int8.metrics, floors, drops)
        passed = passed and bool(int8.metrics)
        tried[scheme] = {"metrics": int8.metrics, "tweets_per_second": int8.speed, "why_not": reasons}
        if passed or not int8.metrics:
            break
    # the int8 model recorded is still loaded: its probe, and the same tweets with other batch mates (sub-batches
    # of 64)
    model = int8.model
    probe = np.round(probe_probabilities(model)[0].astype(np.float64), 5).tolist()
    model.max_batch = 64
    here, other = (np.concatenate([p[k] for k in examples]) if n_texts else np.zeros((0, 1))
                   for p in (int8.probs, _score_each(int8.scorer, examples)))
    batch_mates = {"other_sub_batch": 64,
                   "label_agreement": round(_agreement(here.argmax(1), other.argmax(1)), 4),
                   "max_abs_diff": round(float(np.abs(here - other).max(initial=0.0)), 4)}
    record = {
        "method": METHOD, "scheme": scheme, "onnxruntime": onnxruntime.__version__,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": {"fp32": fp32.metrics, "int8": int8.metrics},
        "max_drop": {k: v for k, v in drops.items() if k in int8.metrics},
        "sub_batch": sub_batch, "default_on_cpu": passed,
        "why_not": reasons if int8.metrics else ["no quality-guard test set given"],
        # the schemes that missed the gate before this one, with their figures
        "schemes_tried": {name: t for name, t in tried.items() if name != scheme},
        "label_agreement_vs_fp32": round(_agreement(fp32.decided, int8.decided), 4),
        "agreement_texts": n_texts, "tweets_per_second": {"fp32": fp32.speed, "int8": int8.speed},
        "batch_mates": batch_mates, "probe": probe,
    }
    if write:
        manifest = load_manifest(model_dir)
        manifest.derived["int8"] = record
        manifest.write(model_dir)
    return Qualification(record)


@dataclass
class _Measured:
    """One variant of a model directory scored on the test sets."""

    metrics: dict[str, float]
    speed: float
    decided: npt.NDArray[np.int64]
    probs: dict[str, npt.NDArray[np.float64]]
    scorer: Callable[[Sequence[str]], Any]
    model: Any


def _measure(model_dir: Path, variant: str, scheme: str | None, examples: dict[str, list[Any]],
             sub_batch: int) -> _Measured:
    """Score every test set once with one variant (and int8 scheme); the guard's metrics, the speed and the
    decided labels all come from those probabilities, and the loaded model stays for the probe."""
    scorer, labels, model = model_dir_scorer(model_dir, variant, sub_batch, int8_scheme=scheme)
    n_texts = sum(len(rows) for rows in examples.values())
    started = time.perf_counter()
    probs = _score_each(scorer, examples)  # scored once; the reports below reuse these probabilities
    speed = round(n_texts / (time.perf_counter() - started), 1) if n_texts else 0.0
    decided = decide(np.concatenate([probs[k] for k in examples]), model.weights) if n_texts else \
        np.zeros(0, dtype=np.int64)
    metrics: dict[str, float] = {}
    for kind, rows in examples.items():
        reports = evaluate_scorer(_already(probs[kind]), labels, rows, bootstrap=0, weights=model.weights)
        for (k, report, metric) in GUARD_METRICS:
            if k == kind and report in reports:
                metrics[f"{kind}/{report}/{metric}"] = round(float(getattr(reports[report], metric)), 4)
    return _Measured(metrics, speed, decided, probs, scorer, model)


def _score_each(scorer: Callable[[Sequence[str]], Any], examples: dict[str, list[Any]]
                ) -> dict[str, npt.NDArray[np.float64]]:
    """Each test set scored on its own, as the quality guard scores it (int8 scores depend on batch mates)."""
    return {kind: np.asarray(scorer([e.text for e in rows])) for kind, rows in examples.items()}


def _already(probs: npt.NDArray[np.float64]) -> Callable[[Sequence[str]], npt.NDArray[np.float64]]:
    """A scorer that returns probabilities computed before (each test set is scored once)."""
    return lambda _texts: probs


def _agreement(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> float:
    return float(np.mean(a == b)) if len(a) else 1.0
