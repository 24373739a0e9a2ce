"""The decision rule between a model's probabilities and the label it serves.

A classifier trained on one label mix and served on another (SemEval + TSE → a live airline feed) picks
the majority class too often: argmax of calibrated probabilities maximises accuracy, not the balanced
recall we select models on and that decides whether negative tweets are caught. Per-class *decision
weights* (label = argmax of ``p_c · w_c``) fix that without touching the probabilities themselves, which
stay calibrated for the dashboards. They are fitted on the checkpoint's dev split at export and stored in
the model directory, so training, evaluation and serving apply the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.int64]


def decide(probs: FloatArray, weights: Sequence[float] | FloatArray | None = None) -> IntArray:
    """Index of the decided class per row: argmax of probabilities times weights (plain argmax without)."""
    probs = np.asarray(probs)
    if weights is None:
        return np.asarray(probs.argmax(axis=1), dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (probs.shape[1],) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"decision weights must be {probs.shape[1]} positive numbers, got {list(w)}")
    return np.asarray((probs * w).argmax(axis=1), dtype=np.int64)


def macro_recall(y: IntArray, pred: IntArray, n_classes: int) -> float:
    recalls = [float((pred[y == c] == c).mean()) for c in range(n_classes) if (y == c).any()]
    return float(np.mean(recalls)) if recalls else 0.0


def calibration_rows(sources: Sequence[str], labels: Sequence[int], n_classes: int) -> list[int]:
    """Indices of the dev rows to fit decision weights on: those from sources that use every class.

    A source labelled with fewer classes than the task (Sentiment140's emoticon labels know no neutral)
    says nothing about where the boundary to the missing class lies, yet in a macro-recall fit its rows can
    only push weight away from that class. When every source, or none, covers all classes, all rows count.
    """
    seen: dict[str, set[int]] = {}
    for source, label in zip(sources, labels, strict=True):
        seen.setdefault(source, set()).add(int(label))
    full = {source for source, classes in seen.items() if len(classes) == n_classes}
    if not full or len(full) == len(seen):
        return list(range(len(labels)))
    return [i for i, source in enumerate(sources) if source in full]


def fit_weights(probs: FloatArray, y: Sequence[int], *, span: float = 2.0, step: float = 0.05,
                rounds: int = 3) -> list[float]:
    """Weights maximising macro-averaged recall on ``(probs, y)``, by coordinate ascent on log-weights.

    The first class's weight stays 1 (only ratios matter). Each coordinate tries every log-weight on a
    grid within ``±span``; among equally good values the one nearest the current rule wins, so a dev set
    that cannot tell values apart leaves the weights alone rather than drifting to an edge.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    n = probs.shape[1]
    logw = np.zeros(n)
    grid = np.round(np.arange(-span, span + step / 2, step), 6)
    best = macro_recall(labels, decide(probs, np.exp(logw)), n)
    for _ in range(rounds):
        moved = False
        for c in range(1, n):
            current = logw[c]
            candidates = []
            for value in grid:
                logw[c] = value
                candidates.append((macro_recall(labels, decide(probs, np.exp(logw)), n), -abs(value - current),
                                   value))
            score, _, value = max(candidates)
            logw[c] = value if score > best else current
            if score > best:
                best, moved = score, True
        if not moved:
            break
    return [float(w) for w in np.exp(logw)]
