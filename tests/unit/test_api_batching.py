"""Dynamic batching of POST /v1/score (issue 29): concurrent requests share model calls, each gets its own
results, the event loop stays free while the model runs, and a full queue refuses at once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from badbuzz.services.api.batching import ANSWERS_PER_TURN, BatchMetrics, DynamicBatcher, Overloaded


class Recorder:
    """A model that upper-cases texts, remembers each call's size, and can be held inside a call."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.inside = threading.Event()

    def __call__(self, texts: list[str], langs: list[str | None]) -> list[str]:
        self.inside.set()
        self.gate.wait(10)
        self.calls.append(len(texts))
        return [f"{t.upper()}:{lang}" for t, lang in zip(texts, langs, strict=True)]


def test_concurrent_single_texts_share_calls_and_each_gets_its_own_result() -> None:
    model = Recorder()
    registry = CollectorRegistry()
    batcher = DynamicBatcher(model, max_texts=8, max_wait_s=0.005, metrics=BatchMetrics(registry))

    async def main() -> list[list[str]]:
        model.gate.clear()  # the first call is held until every request has arrived
        first = asyncio.create_task(batcher.submit(["first"], ["en"]))
        while not model.inside.is_set():
            await asyncio.sleep(0.001)
        rest = [asyncio.create_task(batcher.submit([f"t{i}"], ["fr" if i % 2 else None])) for i in range(20)]
        await asyncio.sleep(0.01)
        model.gate.set()
        return [await first] + [await r for r in rest]

    results = asyncio.run(main())
    assert results[0] == ["FIRST:en"]
    assert results[1:] == [[f"T{i}:{'fr' if i % 2 else None}"] for i in range(20)]
    assert model.calls[0] == 1 and sum(model.calls) == 21
    assert len(model.calls) == 1 + 3 and max(model.calls[1:]) == 8  # 20 queued texts in calls of 8, 8, 4
    assert registry.get_sample_value("badbuzz_api_batch_texts_count") == 4
    batcher.close()


def test_a_full_call_wakes_its_requests_a_slice_per_turn_of_the_loop() -> None:
    """Woken all in one turn, a call's 64 requests would keep the loop (and /healthz) for ~20 ms."""
    model = Recorder()
    batcher = DynamicBatcher(model, max_texts=64, max_wait_s=0, workers=1)
    done_when_woken: list[int] = []

    async def main() -> None:
        model.gate.clear()
        first = asyncio.create_task(batcher.submit(["first"], ["en"]))
        while not model.inside.is_set():
            await asyncio.sleep(0.001)
        futures = [asyncio.ensure_future(batcher.submit([f"t{i}"], [None])) for i in range(40)]

        async def watch(f: asyncio.Future[list[str]]) -> None:
            await f
            done_when_woken.append(sum(x.done() for x in futures))

        watchers = [asyncio.create_task(watch(f)) for f in futures]
        await asyncio.sleep(0.01)
        model.gate.set()
        await first
        await asyncio.gather(*watchers)

    asyncio.run(main())
    assert model.calls == [1, 40] and len(done_when_woken) == 40
    assert min(done_when_woken) <= ANSWERS_PER_TURN < 40  # the first woken saw the rest still waiting
    batcher.close()


def test_a_request_larger_than_a_call_goes_alone_and_whole() -> None:
    model = Recorder()
    batcher = DynamicBatcher(model, max_texts=4, max_wait_s=0)

    async def main() -> tuple[list[str], list[str]]:
        big = asyncio.create_task(batcher.submit([f"b{i}" for i in range(10)], [None] * 10))
        small = asyncio.create_task(batcher.submit(["s"], [None]))
        return await big, await small

    big, small = asyncio.run(main())
    assert big == [f"B{i}:None" for i in range(10)] and small == ["S:None"]
    assert model.calls == [10, 1]
    batcher.close()


def test_the_event_loop_answers_while_the_model_runs() -> None:
    """What /healthz relies on: the model's call runs in a worker thread, not on the loop."""
    model = Recorder()
    batcher = DynamicBatcher(model, max_wait_s=0)

    async def main() -> bool:
        model.gate.clear()
        scoring = asyncio.create_task(batcher.submit(["slow"], [None]))
        while not model.inside.is_set():
            await asyncio.sleep(0.001)
        other_work = await asyncio.wait_for(asyncio.sleep(0, result=True), timeout=1)  # the loop is free
        assert not scoring.done()
        model.gate.set()
        await scoring
        return other_work

    assert asyncio.run(main())
    batcher.close()


def test_a_full_queue_refuses_at_once_with_a_retry_delay() -> None:
    model = Recorder()
    registry = CollectorRegistry()
    batcher = DynamicBatcher(model, max_texts=2, max_wait_s=0, max_queue=3, metrics=BatchMetrics(registry))

    async def main() -> Overloaded:
        model.gate.clear()
        busy = asyncio.create_task(batcher.submit(["x"], [None]))
        while not model.inside.is_set():
            await asyncio.sleep(0.001)
        queued = [asyncio.create_task(batcher.submit([f"q{i}"], [None])) for i in range(3)]
        await asyncio.sleep(0)
        assert batcher.waiting == 3
        with pytest.raises(Overloaded) as refused:
            await batcher.submit(["one too many"], [None])
        model.gate.set()
        await busy
        assert [await q for q in queued] == [["Q0:None"], ["Q1:None"], ["Q2:None"]]
        return refused.value

    refused = asyncio.run(main())
    assert refused.retry_after_s >= 1 and "3 texts are waiting" in str(refused)
    assert registry.get_sample_value("badbuzz_api_overloaded_total") == 1
    batcher.close()


def test_a_failing_call_fails_every_request_in_it_and_the_next_call_still_runs() -> None:
    calls = []

    def flaky(texts: list[str], langs: list[str | None]) -> list[str]:
        calls.append(list(texts))
        if "boom" in texts:
            raise ValueError("model failed")
        return texts

    batcher = DynamicBatcher(flaky, max_texts=2, max_wait_s=0.005)

    async def main() -> list[object]:
        jobs = [asyncio.create_task(batcher.submit([t], [None])) for t in ("a", "boom", "c")]
        return await asyncio.gather(*jobs, return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert isinstance(first, ValueError) and isinstance(second, ValueError)  # "a" shared the failing call
    assert third == ["c"] and calls == [["a", "boom"], ["c"]]
    with pytest.raises(ValueError):
        DynamicBatcher(flaky, max_texts=0)
    batcher.close()


def test_with_two_workers_a_second_call_runs_while_the_first_is_held() -> None:
    model = Recorder()
    batcher = DynamicBatcher(model, max_texts=1, max_wait_s=0, workers=2)

    async def main() -> list[str]:
        model.gate.clear()
        held = asyncio.create_task(batcher.submit(["held"], [None]))
        while not model.inside.is_set():
            await asyncio.sleep(0.001)
        second = asyncio.create_task(batcher.submit(["second"], [None]))
        for _ in range(200):  # the second call enters the model while the first is still inside it
            await asyncio.sleep(0.005)
            if batcher._running == 2:
                break
        running = batcher._running
        model.gate.set()
        await held
        await second
        return [str(running)]

    assert asyncio.run(main()) == ["2"]
    assert sorted(model.calls) == [1, 1]
    batcher.close()


def test_the_load_benchmark_drives_a_real_api_process_and_probes_it_apart(tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    """``badbuzz bench --api-load``'s own machinery, for a second, on the tiny model: every request answered and
    counted, and /healthz probed by its own process all along."""
    from badbuzz.services.api.auth import new_key
    from badbuzz.services.settings import Settings
    from badbuzz.services.tools.bench_api import _load, _start_api, _wait_ready
    from badbuzz.services.tools.bench_pipeline import free_port

    key, entry = new_key("bench", "read")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_api(Settings(model_dir=tiny_model_dir, home=tmp_path), entry, port, tmp_path)
    try:
        _wait_ready(url, key, proc)
        latencies, scored, refused, health, wall = asyncio.run(
            _load(url, key, ["what a flight", "lost my bag again", "thanks for the upgrade"], 4, 1, 1.5))
    finally:
        proc.terminate()
        proc.wait(30)
    assert refused == 0 and scored == len(latencies) > 10
    assert min(latencies) > 0 and max(latencies) < 30
    assert len(health) >= 8 and all(0 < h < 5 for h in health)  # ten probes a second, each answered
    assert 1.5 <= wall < 10


def test_free_port_never_hands_out_the_same_port_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may offer a just-released port again; free_port asks once more instead of giving it twice."""
    from badbuzz.services.tools import bench_pipeline

    offered = iter([41_001, 41_001, 41_001, 41_002])

    class Socket:
        def __enter__(self) -> Socket:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def bind(self, address: tuple[str, int]) -> None:
            self.port = next(offered)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(bench_pipeline, "socket", SimpleNamespace(socket=Socket))  # this module's only
    monkeypatch.setattr(bench_pipeline, "_GIVEN", set())
    assert [bench_pipeline.free_port(), bench_pipeline.free_port()] == [41_001, 41_002]
