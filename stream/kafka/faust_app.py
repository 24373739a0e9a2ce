"""The faust-streaming scorer app: a consumer-group agent that micro-batches ``tweets.raw``.

``stream.take_events(max, within)`` builds the micro-batches; faust acknowledges a batch's events only
after the agent body returns, and commits only acknowledged offsets up to the newest durable one (faust also
acknowledges messages no agent saw when it stops: stream/kafka/durable_commits.py). The body runs the (blocking)
:class:`ScoringPipeline` in a worker thread, and returns only once scores are in the store and every output
record is acknowledged by the broker, so a crash replays at most the uncommitted batch, which the idempotent
store absorbs. Consumer lag is measured apart, by :class:`LagMonitor`, so a stuck agent shows rising lag.

The app is built by :func:`build_app` at run time, never at import time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import faust
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from badbuzz.stream.contracts import IncomingMessage, Origin
from badbuzz.stream.errors import SinkError, StoreUnavailable
from badbuzz.stream.kafka.durable_commits import DurableFrontier
from badbuzz.stream.kafka.lag import LagMonitor
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import PreparedBatch, ScoringPipeline

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
    lag: LagMonitor | None = None,
    credentials: Any = None,
    replication_factor: int = 1,
) -> faust.App:
    """The scorer's faust app; ``credentials`` is KafkaSecurity.faust_credentials() (None: PLAINTEXT)."""
    app = faust.App(
        app_id,
        broker_credentials=credentials,
        broker=[f"kafka://{b}" for b in bootstrap.split(",")],
        datadir=str(datadir),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        topic_partitions=partitions,
        topic_replication_factor=replication_factor,
        consumer_max_fetch_size=max_fetch_bytes,
        producer_max_request_size=max_fetch_bytes,
        stream_wait_empty=False,
        broker_session_timeout=session_timeout_s,
        broker_heartbeat_interval=session_timeout_s / 4,
    )
    raw = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                    partitions=partitions)

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        frontier.install(app.consumer)  # before the first commit of this assignment
        mine = [tp for tp in assigned if tp.topic == topic]
        unread.reset()  # another replica may have read these partitions further meanwhile
        metrics.assigned_partitions.labels(topic=topic).set(len(mine))
        if lag is not None:
            lag.assign((tp.topic, tp.partition) for tp in mine)
        log.info("assigned %d partition(s) of %s", len(mine), topic)

    app.on_partitions_assigned.connect(on_assigned)

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        frontier.forget(revoked)
        if lag is not None:
            lag.assign(set())  # until the next assignment: another replica may own them now

    app.on_partitions_revoked.connect(on_revoked)

    unread = UnreadPartitions()
    frontier = DurableFrontier()

    @app.agent(raw)  # type: ignore[untyped-decorator]  # faust is not analysed (see pyproject)
    async def score(stream: Any) -> AsyncIterator[None]:
        async for events in stream.take_events(batch_max_size, within=batch_max_wait_s):
            batch = [_incoming(e.message) for e in events]
            unread.processed((m.origin.partition, m.origin.offset) for m in batch if m.origin is not None)
            prepared = await asyncio.to_thread(pipeline.prepare, batch)
            prepared.pending_partitions = await _unread(app.consumer, topic, unread)
            await _deliver_until_durable(pipeline, prepared, metrics)
            frontier.delivered((e.message.tp, e.message.offset) for e in events)  # committable from here on
            yield None

    return app


class UnreadPartitions:
    """Which of this consumer's partitions still have tweets in Kafka beyond what it has scored.

    A partition counts as unread while the broker's high watermark is past the offset after the newest tweet
    scored from it (or, before any, past the consumer's fetch position). Offsets can have gaps a consumer never
    sees (a transactional producer's commit markers), so a partition that makes no progress for ``give_up_s``
    stops counting: the watermark may wait for unread tweets, never stall on a gap.
    """

    def __init__(self, give_up_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.give_up_s = give_up_s
        self._clock = clock
        self.read_next: dict[int, int] = {}
        self._since: dict[int, tuple[int | None, float]] = {}

    def processed(self, offsets: Iterable[tuple[int, int]]) -> None:
        for partition, offset in offsets:
            self.read_next[partition] = max(self.read_next.get(partition, 0), offset + 1)

    def reset(self) -> None:
        self.read_next.clear()
        self._since.clear()

    def unread(self, highwater: Mapping[int, int | None], position: Mapping[int, int | None]) -> frozenset[int]:
        """``highwater`` and ``position`` (next offset to fetch) per assigned partition, None when unknown."""
        now, out = self._clock(), set()
        for partition, hw in highwater.items():
            done = self.read_next.get(partition, position.get(partition))
            if hw is None or done is None or hw <= done:
                self._since.pop(partition, None)
                continue
            last, since = self._since.get(partition, (None, now))
            if last != done:  # it moved since we last looked: a fresh wait
                since = now
            self._since[partition] = (done, since)
            if now - since <= self.give_up_s:
                out.add(partition)
        return frozenset(out)


async def _unread(consumer: Any, topic: str, unread: UnreadPartitions) -> frozenset[int]:
    """This consumer's unread partitions of ``topic`` (none when the consumer cannot tell)."""
    try:
        mine = [tp for tp in consumer.assignment() if tp.topic == topic]
        highwater = {tp.partition: consumer.highwater(tp) for tp in mine}
        position: dict[int, int | None] = {}
        for tp in mine:
            if tp.partition not in unread.read_next:
                position[tp.partition] = await consumer.position(tp)
        return unread.unread(highwater, position)
    except Exception:  # faust/aiokafka internals: a guess that fails must not stop scoring
        log.debug("could not read the consumer's high watermarks", exc_info=True)
        return frozenset()


def _incoming(message: Any) -> IncomingMessage:
    ts = message.timestamp
    return IncomingMessage(
        value=message.value if message.value is not None else b"",
        key=message.key,
        origin=Origin(message.topic, message.partition, message.offset,
                      int(ts * 1000) if ts else None),
    )


async def _deliver_until_durable(pipeline: ScoringPipeline, batch: PreparedBatch, metrics: ScorerMetrics) -> None:
    """Never let a batch through undelivered: faust would acknowledge it on the way out of the loop.

    An outage (store, broker) is backpressure: the agent waits, retrying only what is not durable yet,
    instead of consuming further. Any other error is retried the same way, loudly: input can no longer
    cause it (the batch's content was dealt with in ``prepare``), so it is the environment or a bug.
    """
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, StoreUnavailable | SinkError):
            stage = "store" if isinstance(exc, StoreUnavailable) else "publish"
            log.error("%s; holding the batch of %d and retrying in %.1fs", exc, batch.size, state.upcoming_sleep)
        else:
            stage = "other"
            log.error("delivering a batch of %d failed; retrying in %.1fs", batch.size, state.upcoming_sleep,
                      exc_info=exc)
        metrics.ready.set(0)
        metrics.delivery_retries.labels(stage=stage).inc()

    # never stops on its own: a batch is held until it is delivered or the agent is cancelled (shutdown)
    async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=5.0), before_sleep=before_sleep,
                                       reraise=True):
        with attempt:
            await asyncio.to_thread(pipeline.deliver, batch)
    metrics.ready.set(1)
    metrics.last_delivery.set_to_current_time()
