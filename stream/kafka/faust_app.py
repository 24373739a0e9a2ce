"""The faust-streaming scorer app: a consumer-group agent that micro-batches ``tweets.raw``.

``stream.take_events(max, within)`` builds the micro-batches. Each batch is prepared (validation, scores) in a
worker thread, two at a time, then delivered (store, then every output record acknowledged by the broker) once
the batch before it is: one delivery at a time, in order. faust acknowledges a batch's
events once the body asks for the next, so commits are bounded by :class:`DurableFrontier` instead: only offsets
up to the newest delivered one are committed (faust also acknowledges messages no agent saw when it stops:
stream/kafka/durable_commits.py). A crash replays at most the batches not yet committed, which the idempotent
store absorbs. Consumer lag is measured apart, by :class:`LagMonitor`, so a stuck agent shows rising lag.

The app is built by :func:`build_app` at run time, never at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from badbuzz.stream.contracts import IncomingMessage, Origin
from badbuzz.stream.kafka.durable_commits import DurableFrontier
from badbuzz.stream.kafka.held_batch import report_held_batch
from badbuzz.stream.kafka.lag import LagMonitor
from badbuzz.stream.kafka.unread import UnreadPartitions
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import PreparedBatch, ScoringPipeline

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0  # how long a stopping agent waits for the batches it has in hand
# batches scored at once: the next one's Python runs while ONNX Runtime scores the one before (the kafka-python
# engine does the same, stream/kafka/batch_consumer.py)
SCORE_AHEAD = 2


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

    async def deliver(prepared: PreparedBatch, positions: list[tuple[Any, int]]) -> None:
        await _deliver_until_durable(pipeline, prepared, metrics)
        frontier.delivered(positions)  # committable from here on

    @app.agent(raw)  # type: ignore[untyped-decorator]  # faust is not analysed (see pyproject)
    async def score(stream: Any) -> AsyncIterator[None]:
        # Each batch runs as one task: scored in a worker thread, then delivered (stored, published) once the
        # batch before it is. Two batches are scored at once (SCORE_AHEAD), so one's Python (validation,
        # language identification, tokenisation) runs while ONNX Runtime scores the other; deliveries stay one
        # at a time and in order. The agent takes no further batch while more than SCORE_AHEAD are in hand (an
        # outage holds them all); faust acknowledges a batch once the next is asked for, and the frontier keeps
        # its commits short of whatever is not delivered yet
        in_hand: deque[asyncio.Future[None]] = deque()
        scoring: asyncio.Future[PreparedBatch] | None = None
        taken: dict[int, frozenset[int]] = {}  # source partitions of each batch in hand, by its number
        number = 0
        try:
            async for events in stream.take_events(batch_max_size, within=batch_max_wait_s):
                batch = [_incoming(e.message) for e in events]
                unread.processed((m.origin.partition, m.origin.offset) for m in batch if m.origin is not None)
                number += 1
                taken[number] = frozenset(m.origin.partition for m in batch if m.origin is not None)
                before, scoring = scoring, asyncio.ensure_future(asyncio.to_thread(pipeline.prepare, batch))
                in_hand.append(asyncio.ensure_future(score_then_deliver(
                    scoring, in_hand[-1] if in_hand else None, number, taken,
                    [(e.message.tp, e.message.offset) for e in events])))
                if before is not None:
                    await asyncio.wait([before])  # at most SCORE_AHEAD batches being scored (its error: its task's)
                while len(in_hand) > SCORE_AHEAD or (in_hand and in_hand[0].done()):
                    await in_hand.popleft()  # backpressure: an outage holds the agent here
                yield None
        finally:
            if in_hand and not in_hand[-1].done():
                # a stop: the batches in hand are given a few seconds to be delivered (and committed on the way
                # out); ones waiting out an outage are cancelled, not committed, and read again by the next owner
                try:
                    await asyncio.wait_for(asyncio.shield(in_hand[-1]), timeout=STOP_GRACE_S)
                except (TimeoutError, asyncio.CancelledError):
                    pass
            for task in in_hand:
                task.cancel()

    async def score_then_deliver(scoring: asyncio.Future[PreparedBatch], before: asyncio.Future[None] | None,
                                 number: int, taken: dict[int, frozenset[int]], positions: list[tuple[Any, int]]
                                 ) -> None:
        try:
            prepared = await scoring
            if before is not None:
                await before  # in order: its failure (a bug) or cancellation (a stop) ends this one too
            # the partitions whose tweets are not stored with this batch: unread in Kafka, or in a batch taken
            # after it and still in hand. Taken now, not when the batch was: a partition first read by a later
            # batch must hold the alerter's watermark too (its minutes are not complete until that one is stored)
            behind = frozenset().union(*(p for n, p in taken.items() if n > number))
            prepared.pending_partitions = await _unread(app.consumer, topic, unread) | behind
            await deliver(prepared, positions)
        finally:
            taken.pop(number, None)

    return app


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
        report_held_batch(state.outcome.exception() if state.outcome else None, batch.size, state.upcoming_sleep or 0.0,
                          metrics)

    # never stops on its own: a batch is held until it is delivered or the agent is cancelled (shutdown)
    async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.5, max=5.0), before_sleep=before_sleep,
                                       reraise=True):
        with attempt:
            await asyncio.to_thread(pipeline.deliver, batch)
    metrics.ready.set(1)
    metrics.last_delivery.set_to_current_time()
