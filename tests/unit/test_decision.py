"""Decision weights: the rule between probabilities and served labels, fitted on dev and stored with the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from badbuzz.models.serving.decision import calibration_rows, decide, fit_weights, macro_recall
from badbuzz.models.serving.model_dir import MANIFEST_NAME, InvalidModelDir, load_manifest
from badbuzz.models.training.metrics import evaluate


def test_decide_multiplies_probabilities_by_weights() -> None:
    probs = np.array([[0.40, 0.60], [0.30, 0.70], [0.20, 0.80]])
    assert decide(probs).tolist() == [1, 1, 1]
    # w = (2, 1): class 0 wins when 2·p0 > p1, i.e. p0 > 1/3
    assert decide(probs, [2.0, 1.0]).tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="positive"):
        decide(probs, [1.0, 0.0])
    with pytest.raises(ValueError, match="2 positive"):
        decide(probs, [1.0, 1.0, 1.0])


def test_fit_weights_recovers_an_under_predicted_class() -> None:
    rng = np.random.default_rng(0)
    # class 0 is real but the model's probabilities are biased against it by a factor of 3
    y = rng.integers(0, 3, 3000)
    logits = rng.normal(0, 1, (3000, 3))
    logits[np.arange(3000), y] += 2.0
    logits[:, 0] -= np.log(3.0)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    before = macro_recall(y, decide(probs), 3)
    weights = fit_weights(probs, y)
    after = macro_recall(y, decide(probs, weights), 3)
    assert weights[0] == 1.0
    assert after > before + 0.03
    # relative to class 0, the other classes are weighted down by roughly the bias (3×), within the grid
    assert 1.8 < 1 / weights[1] < 5 and 1.8 < 1 / weights[2] < 5


def test_fit_weights_leaves_a_balanced_model_alone() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9]])
    y = [0, 1, 0, 1]
    assert fit_weights(probs, y) == [1.0, 1.0]  # already perfect: nearest-to-current among ties


def test_calibration_rows_leave_out_sources_without_every_class() -> None:
    sources = ["semeval", "s140", "semeval", "s140", "semeval", "tse"]
    labels = [0, 0, 1, 2, 2, 1]
    # semeval uses all three classes; s140 (no neutral) and tse (only neutral here) do not
    assert calibration_rows(sources, labels, 3) == [0, 2, 4]
    # every source complete, or none: every row counts
    assert calibration_rows(["a", "b", "a", "b"], [0, 1, 1, 0], 2) == [0, 1, 2, 3]
    assert calibration_rows(["a", "b"], [0, 0], 2) == [0, 1]
    with pytest.raises(ValueError):
        calibration_rows(["a"], [0, 1], 2)


def test_binary_labelled_rows_would_push_the_fit_away_from_neutral() -> None:
    """Why calibration_rows exists: rows that can never be neutral make neutral look over-predicted."""
    rng = np.random.default_rng(1)
    n = 3000
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), y] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    # a second source, labelled negative/positive only, whose tweets the model often reads as neutral
    m = 3000
    y2 = rng.choice([0, 2], m)
    logits2 = rng.normal(0, 1, (m, 3))
    logits2[np.arange(m), y2] += 1.0
    logits2[:, 1] += 1.0
    probs2 = np.exp(logits2) / np.exp(logits2).sum(1, keepdims=True)
    all_probs, all_y = np.vstack([probs, probs2]), np.concatenate([y, y2])
    sources = ["three-way"] * n + ["binary"] * m
    rows = calibration_rows(sources, all_y.tolist(), 3)
    assert rows == list(range(n))
    mixed = fit_weights(all_probs, all_y)
    clean = fit_weights(all_probs[rows], all_y[rows])
    assert mixed[1] < 0.8 * clean[1]  # the binary rows drag neutral's weight down
    # and on the three-way rows the clean fit serves at least as well
    assert macro_recall(y, decide(probs, clean), 3) >= macro_recall(y, decide(probs, mixed), 3)


def test_evaluate_uses_weights_for_labels_not_for_auc() -> None:
    probs = np.array([[0.40, 0.60], [0.30, 0.70], [0.20, 0.80], [0.10, 0.90]])
    y = [0, 0, 1, 1]  # negative = class 0
    plain = evaluate(y, probs, ["negative", "positive"], bootstrap=0)
    weighted = evaluate(y, probs, ["negative", "positive"], bootstrap=0, weights=[3.0, 1.0])
    assert plain.accuracy == 0.5 and plain.confusion == [[0, 2], [0, 2]]
    # 3·p0 > p1 ⇔ p0 > 0.25: rows 1 and 2 become negative
    assert weighted.accuracy == 1.0 and weighted.confusion == [[2, 0], [0, 2]]
    assert plain.roc_auc_negative == weighted.roc_auc_negative == 1.0


def test_fitted_weights_are_stored_served_and_checked(tiny_model_dir: Path, s140_sample: Path,
                                                      tmp_path: Path) -> None:
    from badbuzz.export.onnx_export import fit_decision_weights
    from badbuzz.models.data import iter_sentiment140
    from badbuzz.models.serving.inference import OnnxSentimentModel

    d = shutil.copytree(tiny_model_dir, tmp_path / "m")
    rows = [r for r in iter_sentiment140(s140_sample) if r.label in {"negative", "positive"}][:600]
    texts, labels = [r.text for r in rows], [0 if r.label == "negative" else 1 for r in rows]
    fit = fit_decision_weights(d, texts, labels)
    assert fit.macro_recall >= fit.argmax_macro_recall and fit.texts == 600
    m = load_manifest(d)
    assert m.decision_weights == fit.weights and set(fit.weights) == {"negative", "positive"}
    w_neg, w_pos = fit.weights["negative"], fit.weights["positive"]
    assert m.threshold == pytest.approx(w_pos / (w_neg + w_pos), abs=1e-4)
    model = OnnxSentimentModel(d, device="cpu", variant="fp32")
    pred = model.predict(texts)
    # the served rule is the stored weights; ``threshold`` is their rendering on p(negative), rounded to 4 places,
    # so a tweet within 5e-5 of it may fall either side (the tiny random model puts some there: a flaky compare)
    expected = ["negative" if w_neg * p[0] > w_pos * p[1] else "positive" for p in pred.probabilities]
    assert pred.decided_labels() == expected  # the served label follows the stored rule
    by_threshold = ["negative" if p[0] > m.threshold else "positive" for p in pred.probabilities]
    near = [abs(p[0] - m.threshold) < 1e-4 for p in pred.probabilities]
    assert all(a == b for a, b, close in zip(expected, by_threshold, near, strict=True) if not close)

    doc = json.loads((d / MANIFEST_NAME).read_text())
    doc["decision_weights"] = {"negative": 1.0}
    (d / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(InvalidModelDir, match="decision_weights"):
        load_manifest(d)
