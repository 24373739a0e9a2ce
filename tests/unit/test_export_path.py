"""The DistilBERT path end to end on a tiny random DistilBertConfig: train → export → parity → serve."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from badbuzz.export.model_dir import load_manifest
from badbuzz.models.inference import OnnxSentimentModel, length_buckets
from tests.conftest import SAMPLE_TEXTS


def test_training_writes_checkpoint_curve_and_metadata(tiny_checkpoint: Path) -> None:
    meta = json.loads((tiny_checkpoint / "training.json").read_text())
    assert meta["labels"] == ["negative", "positive"]
    assert meta["preprocessing"] == "tweet-v1"
    assert len(meta["data_hash"]) == 64
    assert len(meta["history"]) == 30
    assert (tiny_checkpoint / "training_curve.png").stat().st_size > 1000


def test_export_is_self_describing_and_validated(tiny_model_dir: Path) -> None:
    m = load_manifest(tiny_model_dir)
    assert m.labels == ["negative", "positive"]
    assert set(m.variants) == {"fp32", "int8"}
    assert m.parity["fp32"]["max_abs_diff"] <= 1e-4
    assert m.parity["int8"]["label_agreement"] >= 0.99


def test_scorer_model_gives_probabilities_independent_of_batching(tiny_model_dir: Path) -> None:
    big = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32", max_batch=64)
    small = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32", max_batch=3)
    a = big.predict(SAMPLE_TEXTS).probabilities
    b = small.predict(SAMPLE_TEXTS).probabilities
    assert a.shape == (len(SAMPLE_TEXTS), 2)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)  # padding per bucket must not change any score
    assert big.predict([]).probabilities.shape == (0, 2)
    assert big.version.endswith(":fp32")


def test_length_buckets_group_similar_lengths() -> None:
    buckets = length_buckets([5, 1, 9, 2, 8, 3], max_batch=2)
    assert buckets == [[1, 3], [5, 0], [4, 2]]
    assert sorted(i for b in buckets for i in b) == list(range(6))
