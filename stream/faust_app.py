"""The faust-streaming scorer app: a consumer-group agent that micro-batches ``tweets.raw``.

``stream.take_events(max, within)`` builds the micro-batches; faust acknowledges a batch's events only
after the agent body returns, and commits only acknowledged offsets. The body runs the (blocking)
:class:`ScoringPipeline` in a worker thread, and returns only once scores are in the store and outputs are
flushed, so a crash replays at most the uncommitted batch, which the idempotent store absorbs.

The app is built by :func:`build_app` at run time, never at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust

from badbuzz.stream.contracts import IncomingMessage, Origin
from badbuzz.stream.errors import StoreUnavailable
from badbuzz.stream.metrics import ScorerMetrics
from badbuzz.stream.pipeline import ScoringPipeline

log = logging.getLogger(__name__)


def build_app(
    *,
    app_id: str,
    bootstrap: str,
    topic: str,
    partitions: int,
    datadir: Path,
    pipeline: ScoringPipeline,
    metrics: ScorerMetrics,
    batch_max_size: int,
    batch_max_wait_s: float,
    max_fetch_bytes: int,
    session_timeout_s: float = 10.0,
) -> faust.App:
    app = faust.App(
        app_id,
        broker=[f"kafka://{b}" for b in bootstrap.split(",")],
        datadir=str(datadir),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        topic_partitions=partitions,
        topic_replication_factor=1,
        consumer_max_fetch_size=max_fetch_bytes,
        producer_max_request_size=max_fetch_bytes,
        stream_wait_empty=False,
        broker_session_timeout=session_timeout_s,
        broker_heartbeat_interval=session_timeout_s / 4,
    )
    raw = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                    partitions=partitions)

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        mine = [tp for tp in assigned if tp.topic == topic]
        metrics.assigned_partitions.labels(topic=topic).set(len(mine))
        log.info("assigned %d partition(s) of %s", len(mine), topic)

    app.on_partitions_assigned.connect(on_assigned)

    @app.agent(raw)  # type: ignore[untyped-decorator]  # faust is not analysed (see pyproject)
    async def score(stream: Any) -> AsyncIterator[None]:
        async for events in stream.take_events(batch_max_size, within=batch_max_wait_s):
            batch = [_incoming(e.message) for e in events]
            await _process_until_durable(pipeline, batch)
            _observe_lag(app, metrics, events)
            yield None

    return app


def _incoming(message: Any) -> IncomingMessage:
    ts = message.timestamp
    return IncomingMessage(
        value=message.value if message.value is not None else b"",
        key=message.key,
        origin=Origin(message.topic, message.partition, message.offset,
                      int(ts * 1000) if ts else None),
    )


async def _process_until_durable(pipeline: ScoringPipeline, batch: list[IncomingMessage]) -> None:
    """Never let a batch through unstored: faust would acknowledge it on the way out of the loop.

    A store outage is backpressure: the agent waits (retrying) instead of consuming further.
    """
    delay = 1.0
    while True:
        try:
            await asyncio.to_thread(pipeline.process, batch)
            return
        except StoreUnavailable as exc:
            log.error("%s; holding the batch of %d and retrying in %.0fs", exc, len(batch), delay)
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)


def _observe_lag(app: faust.App, metrics: ScorerMetrics, events: list[Any]) -> None:
    last: dict[tuple[str, int], int] = {}
    for e in events:
        m = e.message
        last[(m.topic, m.partition)] = max(last.get((m.topic, m.partition), -1), m.offset)
    for (topic, partition), offset in last.items():
        try:
            high = app.consumer.highwater(faust.types.TP(topic, partition))
        except Exception:  # the consumer may be rebalancing; lag is best-effort
            continue
        if high is not None:
            metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(0, high - offset - 1))
