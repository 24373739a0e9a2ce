"""The scorer's second engine: kafka-python's consumer group, whole fetches as micro-batches.

Why: faust's agent hands every message through its conductor, a channel queue, the stream's processors, an
event and its acknowledgement. Measured on 2 cores with an agent that does nothing but count
(``take_events(256, within=0.2)``): 113-125 µs of CPU a message, 8,100-8,900 messages/s, before the scorer
does any work of its own; kafka-python's ``poll`` returns a fetch as one list, 10 µs a message with a commit
per batch (docs/benchmarks-pipeline.md). A scorer whose inference is nearly free (a GPU) is held by that
difference, so ``BADBUZZ_SCORER_ENGINE=kafka-python`` runs the same :class:`ScoringPipeline` on this loop.
faust stays the default engine.

The guarantees are faust_app's, kept by a loop simpler than faust's because it is synchronous:

* A batch's offsets are committed only after its scores are stored and every output record is acknowledged
  (``pipeline.deliver``); a crash replays at most the uncommitted batch, which the idempotent store absorbs.
* An outage (store, broker) is waited out holding the batch: its partitions are paused and the consumer keeps
  polling, so it stays in its group (``max.poll.interval.ms``) without fetching further. Nothing is skipped.
* A rebalance can only happen inside ``poll``. A batch taken before it is still delivered; only the offsets of
  partitions this consumer still owns are committed, so the new owner reads the rest again (the store keeps
  one row per tweet).
* A stop (SIGTERM) finishes the batch in hand, commits it and leaves the group; during an outage it leaves
  without committing the held batch, which the next owner replays.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, InconsistentGroupProtocolError, KafkaError
from kafka.structs import OffsetAndMetadata

from badbuzz.models.serving.thread_names import name_os_thread
from badbuzz.stream.contracts import IncomingMessage, Origin
from badbuzz.stream.kafka.held_batch import report_held_batch
from badbuzz.stream.kafka.lag import LagMonitor
from badbuzz.stream.kafka.unread import UnreadPartitions
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import PreparedBatch, ScoringPipeline

log = logging.getLogger(__name__)

# batches scored at once: the next one's Python (validation, language identification, tokenisation) runs while
# ONNX Runtime scores the one before; more would only queue in the lanes and hold more uncommitted records
SCORE_AHEAD = 2
POLL_MS = 200  # the longest a stop or a quiet stream waits for poll to return
COMMIT_TIMEOUT_MS = 10_000


class BatchScorer:
    """Consume ``topic`` in ``group`` and score it in micro-batches of at most ``batch_max_size`` messages,
    cut ``batch_max_wait_s`` after the first one arrived when the stream is quieter than that."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group: str,
        pipeline: ScoringPipeline,
        metrics: ScorerMetrics,
        batch_max_size: int,
        batch_max_wait_s: float,
        max_fetch_bytes: int,
        session_timeout_s: float,
        should_stop: Callable[[], bool],
        client_options: dict[str, Any] | None = None,
        lag: LagMonitor | None = None,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.pipeline = pipeline
        self.metrics = metrics
        self.batch_max_size = batch_max_size
        self.batch_max_wait_s = batch_max_wait_s
        self.max_fetch_bytes = max_fetch_bytes
        self.session_timeout_s = session_timeout_s
        self.should_stop = should_stop
        self.client_options = client_options or {}
        self.lag = lag
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._clock = clock
        self.unread = UnreadPartitions()
        self._holding = False
        self._stopping = False
        # records a poll returned while a batch was held (a partition assigned mid-outage): scored next
        self._carry: list[Any] = []
        self._consumer: KafkaConsumer | None = None

    def consumer(self) -> KafkaConsumer:
        """The group member: manual commits, earliest offsets for a new group, whole fetches per poll."""
        consumer = KafkaConsumer(
            **self.client_options,
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=f"badbuzz-scorer-{self.group}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_max_size,
            fetch_max_bytes=self.max_fetch_bytes,
            max_partition_fetch_bytes=self.max_fetch_bytes,
            session_timeout_ms=int(self.session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.session_timeout_s * 1000 / 4),
            isolation_level="read_committed",  # a transactional producer's aborted records are never scored
        )
        # the topic's partitions in the client's metadata before it joins: a member that joins (or leads) without
        # them is assigned nothing, and the group must rebalance again once they arrive; replicas started
        # together with the topic's creation did that, and one was once left out until its session expired
        deadline = self._clock() + 30
        while not consumer.partitions_for_topic(self.topic) and self._clock() < deadline:
            time.sleep(0.2)
        consumer.subscribe([self.topic], listener=_Listener(self))
        return consumer

    def run(self) -> None:
        """Score until ``should_stop()``; then leave the group.

        Up to :data:`SCORE_AHEAD` batches are scored at once on worker threads, so that one batch's validation,
        language identification and tokenisation (Python) run while the one before it is in ONNX Runtime:
        scored one after the other, the ONNX lanes sat idle during each batch's Python and end to end left
        13.6 % of the two cores unused (docs/benchmarks.md). One more batch is delivered on its own thread (the
        store's write and the broker's acknowledgements are mostly waiting). Batches are handed to delivery in
        the order they were taken, deliveries run one at a time, and each batch's offsets are committed here,
        by the consumer's own thread, once its delivery is done.
        """
        self._consumer = consumer = self.consumer()
        with (ThreadPoolExecutor(1, thread_name_prefix="badbuzz-deliver", initializer=name_os_thread) as delivery,
              ThreadPoolExecutor(SCORE_AHEAD, thread_name_prefix="badbuzz-prepare",
                                 initializer=name_os_thread) as scoring):
            pending: _InFlight | None = None
            scoring_now: deque[_Scoring] = deque()
            try:
                stopped = False
                while not self.should_stop() and not stopped:
                    records = self._take(consumer)
                    if records:
                        scoring_now.append(_Scoring(records, scoring.submit(self.pipeline.prepare,
                                                                            self._messages(records))))
                    # hand the oldest scored batch on when the look-ahead is full, when it is ready, or when the
                    # stream is quiet (nothing else to do meanwhile)
                    while scoring_now and (len(scoring_now) >= SCORE_AHEAD or not records
                                           or scoring_now[0].done.done()):
                        pending, stopped = self._hand_on(consumer, delivery, pending, scoring_now)
                        if stopped:
                            break
                    if not stopped and pending is not None and not records and pending.done.done():
                        stopped, pending = not self._finish(consumer, pending), None
                while scoring_now and not stopped:  # a stop: what was taken is scored already, deliver it
                    pending, stopped = self._hand_on(consumer, delivery, pending, scoring_now)
                if pending is not None and not stopped:
                    self._finish(consumer, pending)
            except InconsistentGroupProtocolError:
                # faust's members assign partitions with their own protocol; a group cannot mix the two
                raise SystemExit(
                    f"consumer group {self.group!r} has members on the other scorer engine (faust): every replica of "
                    "a group must run the same BADBUZZ_SCORER_ENGINE. Stop them all, then start them on one engine "
                    "(the committed offsets carry over).") from None
            finally:
                self._stopping = True  # a delivery still retrying gives up: its batch is not committed
                self._consumer = None
                try:
                    consumer.close(autocommit=False)
                except KafkaError as exc:  # leaving the group is a courtesy: the session timeout does it too
                    log.warning("leaving the consumer group: %s", exc)

    def _hand_on(self, consumer: KafkaConsumer, delivery: ThreadPoolExecutor, pending: _InFlight | None,
                 scoring_now: deque[_Scoring]) -> tuple[_InFlight | None, bool]:
        """Wait for the oldest batch's scoring, then for the delivery before it (committing it), then start
        delivering it. Returns the delivery now in flight, and whether a stop came during an outage (the delivery
        before gave up: nothing more may be delivered, the next owner replays from the last commit)."""
        scored = scoring_now.popleft()
        batch = scored.done.result()
        if pending is not None and not self._finish(consumer, pending):
            return None, True
        # the partitions whose tweets are not stored with this batch: unread in Kafka, or read into a batch still
        # being scored behind it. Taken now, not when the batch was: a partition first read by the batch behind
        # must hold the alerter's watermark too (its minutes are not complete until that batch is stored)
        behind = {r.partition for later in scoring_now for r in later.records}
        batch.pending_partitions = self._unread(consumer) | behind
        return _InFlight(scored.records, delivery.submit(self._deliver_until_durable, batch)), False

    def _take(self, consumer: KafkaConsumer) -> list[Any]:
        """Up to ``batch_max_size`` records: what the first poll brings, topped up until the wait is over."""
        records, self._carry = self._carry[:self.batch_max_size], self._carry[self.batch_max_size:]
        started = self._clock() if records else None
        while len(records) < self.batch_max_size and not self.should_stop():
            wait_s = POLL_MS / 1000 if started is None else started + self.batch_max_wait_s - self._clock()
            if wait_s <= 0:
                break
            with self.metrics.clock("consume"):
                fetched = consumer.poll(timeout_ms=max(1, int(wait_s * 1000)),
                                        max_records=self.batch_max_size - len(records))
                for part in fetched.values():
                    records.extend(part)
            if not records:
                break  # a quiet stream: back to the caller, which commits a delivery that has finished meanwhile
            if started is None:
                started = self._clock()
        return records

    def _messages(self, records: Sequence[Any]) -> list[IncomingMessage]:
        """The records as the pipeline takes them; their offsets count as read from here on."""
        with self.metrics.clock("consume"):
            batch = [_incoming(r) for r in records]
        self.unread.processed((r.partition, r.offset) for r in records)
        return batch

    def _finish(self, consumer: KafkaConsumer, pending: _InFlight) -> bool:
        """Wait for ``pending``'s delivery, staying in the group, and commit it; False if it gave up (a stop
        during an outage: not committed, the next owner replays it)."""
        if not pending.done.done():
            try:
                pending.done.result(timeout=self.retry_initial_s)
            except TimeoutError:  # an outage, or a slow store: keep the membership alive meanwhile
                self._hold(consumer, until=pending.done)
        if not pending.done.result():
            return False
        with self.metrics.clock("commit"):
            self._commit(consumer, pending.records)
        return True

    def _deliver_until_durable(self, batch: PreparedBatch) -> bool:
        """Deliver, retrying with backoff while the store or the broker is away; False if a stop came first.

        Errors other than an outage are retried the same way, loudly: the batch's content was dealt with in
        ``prepare``, so they come from the environment or a bug. Runs on the delivery thread.
        """
        delay = self.retry_initial_s
        while True:
            try:
                self.pipeline.deliver(batch)
            except Exception as exc:
                report_held_batch(exc, batch.size, delay, self.metrics)
                until = self._clock() + delay
                while self._clock() < until:
                    if self._stopping or self.should_stop():
                        return False
                    time.sleep(min(0.1, max(0.0, until - self._clock())))
                delay = min(self.retry_max_s, delay * 2)
                continue
            break
        self.metrics.ready.set(1)
        self.metrics.last_delivery.set_to_current_time()
        return True

    def _hold(self, consumer: KafkaConsumer, until: Future[bool]) -> None:
        """Poll with every partition paused until ``until`` is done: in the group, taking no new work. Records
        a poll still returns (a partition assigned meanwhile) are kept for the next batch."""
        self._holding = True
        consumer.pause(*consumer.assignment())
        try:
            while not until.done():
                try:
                    got = consumer.poll(timeout_ms=POLL_MS)
                except KafkaError as exc:  # the broker may be the outage: keep waiting
                    log.debug("polling while a batch is held: %s", exc)
                    time.sleep(POLL_MS / 1000)
                    continue
                for part in got.values():
                    self._carry.extend(part)
        finally:
            self._holding = False
            consumer.resume(*consumer.paused())

    def _commit(self, consumer: KafkaConsumer, records: Sequence[Any]) -> None:
        """The offset after each partition's newest record of the batch, for the partitions still ours."""
        newest: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            newest[tp] = max(newest.get(tp, -1), r.offset)
        owned = consumer.assignment()
        offsets = {tp: OffsetAndMetadata(o + 1, "", -1) for tp, o in newest.items() if tp in owned}
        if not offsets:
            return
        try:
            consumer.commit(offsets, timeout_ms=COMMIT_TIMEOUT_MS)
        except CommitFailedError as exc:
            # the group rebalanced since the batch was taken: the new owners read these offsets again and the
            # store keeps one row per tweet
            log.warning("offsets of a delivered batch not committed (%s); its tweets will be read again", exc)
        except KafkaError as exc:
            # the broker is away: the next batch's commit covers these offsets; a stop before it only means a
            # replay, which the store absorbs, where waiting here would hold a stopping replica
            log.warning("offsets of a delivered batch not committed yet (%s)", exc)

    def _unread(self, consumer: KafkaConsumer) -> frozenset[int]:
        """This consumer's partitions with tweets still in Kafka (none when it cannot tell)."""
        try:
            mine = [tp for tp in consumer.assignment() if tp.topic == self.topic]
            highwater = {tp.partition: consumer.highwater(tp) for tp in mine}
            position = {tp.partition: consumer.position(tp, timeout_ms=1000)
                        for tp in mine if tp.partition not in self.unread.read_next}
            return self.unread.unread(highwater, position)
        except Exception:  # a guess that fails must not stop scoring
            log.debug("could not read the consumer's high watermarks", exc_info=True)
            return frozenset()

    def assigned(self, partitions: set[TopicPartition]) -> None:
        mine = [tp for tp in partitions if tp.topic == self.topic]
        self.unread.reset()  # another replica may have read these partitions further meanwhile
        self.metrics.assigned_partitions.labels(topic=self.topic).set(len(mine))
        if self.lag is not None:
            self.lag.assign((tp.topic, tp.partition) for tp in mine)
        if self._holding and self._consumer is not None and mine:
            self._consumer.pause(*mine)  # no new work while a batch is held
        log.info("assigned %d partition(s) of %s", len(mine), self.topic)

    def revoked(self, partitions: set[TopicPartition]) -> None:
        if self.lag is not None:
            self.lag.assign(set())  # until the next assignment: another replica may own them now


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is not analysed
    def __init__(self, scorer: BatchScorer) -> None:
        self.scorer = scorer

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.scorer.revoked(set(revoked))

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.scorer.assigned(set(assigned))


@dataclass(frozen=True)
class _InFlight:
    """A batch whose delivery runs on the delivery thread; ``done`` answers whether it became durable."""

    records: Sequence[Any]
    done: Future[bool]


@dataclass(frozen=True)
class _Scoring:
    """A batch being scored on a worker thread."""

    records: Sequence[Any]
    done: Future[PreparedBatch]


def _incoming(record: Any) -> IncomingMessage:
    ts = record.timestamp
    return IncomingMessage(
        value=record.value if record.value is not None else b"",
        key=record.key,
        origin=Origin(record.topic, record.partition, record.offset, int(ts) if ts is not None and ts >= 0 else None),
    )
