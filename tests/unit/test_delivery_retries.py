"""The scorer holds a batch it cannot deliver and retries it with backoff until it is durable (faust_app)."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from badbuzz.stream.errors import SinkError, StoreUnavailable
from badbuzz.stream.kafka.faust_app import _deliver_until_durable
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import PreparedBatch


class Flaky:
    """deliver() fails with these errors, in order, then succeeds."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def deliver(self, batch: Any) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


def test_a_batch_is_held_through_failures_of_every_kind_then_delivered_once() -> None:
    metrics = ScorerMetrics(CollectorRegistry())
    pipeline = Flaky(StoreUnavailable("db down"), SinkError("broker down"), RuntimeError("a bug"))
    asyncio.run(_deliver_until_durable(pipeline, PreparedBatch(3, [], []), metrics))  # type: ignore[arg-type]
    assert pipeline.calls == 4
    retries = {s: metrics.delivery_retries.labels(stage=s)._value.get() for s in ("store", "publish", "other")}
    assert retries == {"store": 1, "publish": 1, "other": 1}
    assert metrics.ready._value.get() == 1


def test_a_held_batch_waits_until_cancelled_and_is_not_reported_delivered() -> None:
    metrics = ScorerMetrics(CollectorRegistry())
    pipeline = Flaky(*[StoreUnavailable("db down")] * 100)

    async def run() -> None:
        task = asyncio.create_task(_deliver_until_durable(pipeline, PreparedBatch(1, [], []), metrics))  # type: ignore[arg-type]
        await asyncio.sleep(2.0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    assert 2 <= pipeline.calls <= 4  # 0.5 s, then 1 s, then 2 s between tries
    assert metrics.ready._value.get() == 0
