"""Metric functions against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from badbuzz.models.training.metrics import (
    confusion,
    evaluate,
    expected_calibration_error,
    neutral_band,
    precision_recall_f,
    roc_auc,
)

LABELS = ["negative", "positive"]


def one_hot(pred: list[int], n: int = 2, conf: float = 0.9) -> np.ndarray:
    out = np.full((len(pred), n), (1 - conf) / (n - 1))
    out[np.arange(len(pred)), pred] = conf
    return out


def test_confusion_precision_recall_fbeta_by_hand() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    m = confusion(y, p, 2)
    assert m.tolist() == [[3, 1], [1, 3]]
    prec, rec, f1 = precision_recall_f(m, 0)
    assert (prec, rec, f1) == (0.75, 0.75, 0.75)
    # precision 0.5, recall 1.0 → F2 = 5·0.5·1 / (4·0.5 + 1) = 2.5 / 3
    m2 = confusion(np.array([0, 1]), np.array([0, 0]), 2)
    assert precision_recall_f(m2, 0, beta=2.0)[2] == pytest.approx(2.5 / 3)


def test_roc_auc_by_hand_with_ties() -> None:
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.3, 0.1])) == 1.0
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    # pairs (pos, neg): (0.8, 0.3) ✓ (0.8, 0.9) ✗ (0.4, 0.3) ✓ (0.4, 0.9) ✗ → 0.5
    assert roc_auc(np.array([1, 0, 1, 0]), np.array([0.8, 0.3, 0.4, 0.9])) == 0.5
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_expected_calibration_error() -> None:
    y = np.array([0, 0, 0, 0])
    probs = one_hot([0, 0, 0, 1], conf=0.75)  # confidence 0.75 everywhere, 3 of 4 right → perfectly calibrated
    assert expected_calibration_error(y, probs) == pytest.approx(0.0)
    assert expected_calibration_error(y, one_hot([1, 1, 1, 1], conf=0.9)) == pytest.approx(0.9)


def test_evaluate_report_and_intervals() -> None:
    y = [0] * 50 + [1] * 50
    pred = [0] * 45 + [1] * 5 + [1] * 40 + [0] * 10
    r = evaluate(y, one_hot(pred), LABELS, bootstrap=200)
    assert r.accuracy == pytest.approx(0.85)
    assert r.per_class["negative"]["recall"] == pytest.approx(0.9)
    assert r.macro_recall == pytest.approx((0.9 + 0.8) / 2)
    lo, hi = r.intervals["accuracy"]
    assert lo < 0.85 < hi and hi - lo < 0.2
    assert r.confusion == [[45, 5], [10, 40]]


def test_neutral_band_makes_three_way_decisions() -> None:
    probs = np.array([[0.95, 0.05], [0.55, 0.45], [0.2, 0.8]])
    out, labels = neutral_band(probs, LABELS, band=0.1)
    assert labels == ["negative", "neutral", "positive"]
    assert out.argmax(1).tolist() == [0, 1, 2]
