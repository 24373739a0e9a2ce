"""What a serving process does to its own threads and heap: kernel names for the pools' threads, lanes that
yield a core to whatever wakes, and a heap whose full GC passes skip the model (issue 29, /healthz latency)."""

from __future__ import annotations

import gc
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.thread_names import name_os_thread, os_thread_name
from badbuzz.services.heap import settle_heap

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and per-thread nice are Linux's")


def _comm(tid: int) -> str:
    return Path(f"/proc/{os.getpid()}/task/{tid}/comm").read_text().strip()


def test_kernel_names_are_cut_to_what_the_kernel_keeps() -> None:
    assert os_thread_name("onnx-lane_0") == "onnx-lane_0"
    assert os_thread_name("badbuzz-deliver_12") == "badbuzz-deliver"  # 15 bytes
    assert os_thread_name("lané") == "lan?"


@linux_only
def test_a_pool_thread_carries_its_python_name_in_proc() -> None:
    with ThreadPoolExecutor(1, thread_name_prefix="bbz-test", initializer=name_os_thread) as pool:
        tid, comm = pool.submit(lambda: (threading.get_native_id(), _comm(threading.get_native_id()))).result()
    assert comm == "bbz-test_0" and tid != threading.get_native_id()
    assert _comm(threading.get_native_id()) != "bbz-test_0"  # the caller's own name is untouched


@linux_only
def test_lanes_run_at_the_niceness_asked_and_the_caller_keeps_its_own(tiny_model_dir: Path) -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    model = OnnxSentimentModel(tiny_model_dir, device="cpu", lanes=2, lane_nice=min(19, before + 7))
    seen: list[tuple[str, int]] = []

    def run(idx: list[int]) -> list[int]:
        tid = threading.get_native_id()
        seen.append((_comm(tid), os.getpriority(os.PRIO_PROCESS, tid)))
        return idx

    try:
        model._run_all(run, [[0], [1], [2], [3]], [1, 1, 1, 1])
    finally:
        model.close()
    assert seen and all(name.startswith("onnx-lane") and nice == min(19, before + 7) for name, nice in seen)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_settled_heap_leaves_the_long_lived_objects_out_of_full_collections() -> None:
    held = [{"n": i} for i in range(10_000)]  # a model's worth of long-lived objects, in small
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(held)
        assert sum(1 for o in gc.get_objects(generation=2) if o is held) == 0  # the list itself is frozen
    finally:
        gc.unfreeze()
