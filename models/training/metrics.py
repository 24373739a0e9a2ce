"""Classification metrics with *negative* as the class to catch, plus bootstrap confidence intervals.

Pure numpy: accuracy, per-class precision/recall/F1, macro recall (TweetEval's sentiment metric), macro F1,
F-beta(2) for the negative class (recall weighs four times precision: a missed angry tweet costs more than a
false alarm), ROC-AUC of p(negative), the confusion matrix, and expected calibration error.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from badbuzz.models.serving.decision import decide

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def confusion(y_true: IntArray, y_pred: IntArray, n_classes: int) -> IntArray:
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def precision_recall_f(m: IntArray, cls: int, beta: float = 1.0) -> tuple[float, float, float]:
    tp = float(m[cls, cls])
    predicted = float(m[:, cls].sum())
    actual = float(m[cls, :].sum())
    p = tp / predicted if predicted else 0.0
    r = tp / actual if actual else 0.0
    b2 = beta * beta
    f = (1 + b2) * p * r / (b2 * p + r) if (p + r) else 0.0
    return p, r, f


def roc_auc(y_binary: IntArray, score: FloatArray) -> float | None:
    """Area under the ROC curve via the rank statistic (ties get average ranks); None if one class only."""
    pos = y_binary == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(y_true: IntArray, probs: FloatArray, bins: int = 10) -> float:
    """ECE of the top-class confidence, equal-width bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return float(ece)


@dataclass
class Report:
    labels: list[str]
    n: int
    accuracy: float
    macro_recall: float
    macro_f1: float
    fbeta2_negative: float
    roc_auc_negative: float | None
    ece: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    intervals: dict[str, tuple[float, float]]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def evaluate(y_true: Sequence[int], probs: FloatArray, labels: Sequence[str], *, negative: str = "negative",
             bootstrap: int = 1000, seed: int = 0, weights: Sequence[float] | None = None) -> Report:
    """All metrics for predictions ``probs`` (n × classes) against ``y_true`` (indices into ``labels``).

    Labels are decided by the model's decision ``weights`` when it has them (argmax otherwise); ROC-AUC
    and calibration use the probabilities themselves.
    """
    y = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    pred = decide(probs, weights)
    neg = list(labels).index(negative)
    point = _point(y, pred, len(labels), neg)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in ("accuracy", "macro_recall", "macro_f1", "fbeta2_negative")}
    for _ in range(bootstrap):
        idx = rng.integers(0, len(y), len(y))
        s = _point(y[idx], pred[idx], len(labels), neg)
        for k in samples:
            samples[k].append(float(s[k]))
    intervals = {k: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for k, v in samples.items() if v}
    m = confusion(y, pred, len(labels))
    per_class = {}
    for i, name in enumerate(labels):
        p, r, f = precision_recall_f(m, i)
        per_class[name] = {"precision": p, "recall": r, "f1": f, "support": float(m[i].sum())}
    auc = roc_auc((y == neg).astype(np.int64), probs[:, neg])
    return Report(list(labels), len(y), float(point["accuracy"]), float(point["macro_recall"]),
                  float(point["macro_f1"]), float(point["fbeta2_negative"]), auc,
                  expected_calibration_error(y, probs), per_class, m.tolist(), intervals)


def _point(y: IntArray, pred: IntArray, n_classes: int, neg: int) -> dict[str, float]:
    m = confusion(y, pred, n_classes)
    present = [c for c in range(n_classes) if m[c].sum() > 0]
    recalls = [precision_recall_f(m, c)[1] for c in present]
    f1s = [precision_recall_f(m, c)[2] for c in present]
    return {
        "accuracy": float(np.trace(m) / m.sum()) if m.sum() else 0.0,
        "macro_recall": float(np.mean(recalls)) if recalls else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "fbeta2_negative": precision_recall_f(m, neg, beta=2.0)[2],
    }


def neutral_band(probs_binary: FloatArray, labels: Sequence[str], band: float) -> tuple[FloatArray, list[str]]:
    """Turn a negative/positive model into a 3-way one: |p(neg) − 0.5| < band → neutral.

    Returns pseudo-probabilities over (negative, neutral, positive) whose argmax is the 3-way decision.
    """
    neg = list(labels).index("negative")
    p_neg = probs_binary[:, neg]
    out = np.zeros((len(p_neg), 3), dtype=np.float64)
    neutral = np.abs(p_neg - 0.5) < band
    out[:, 0] = np.where(neutral, 0.0, p_neg)
    out[:, 2] = np.where(neutral, 0.0, 1 - p_neg)
    out[:, 1] = np.where(neutral, 1.0, 0.0)
    return out, ["negative", "neutral", "positive"]


Metric = Callable[[IntArray, FloatArray], float]
