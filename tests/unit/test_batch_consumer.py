"""The kafka-python engine's loop (stream/kafka/batch_consumer.py) as pure logic: what it commits, when it cuts a
batch, how it holds one through an outage. The consumer here is a stand-in that records what it is asked; the
engine on the real broker, PostgreSQL and their outages is tests/integration (``ON_EVERY_ENGINE``)."""

from __future__ import annotations

import threading
import time
from collections import namedtuple
from typing import Any

from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from badbuzz.stream.errors import StoreUnavailable
from badbuzz.stream.kafka.batch_consumer import BatchScorer
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import PreparedBatch

Record = namedtuple("Record", "topic partition offset key value timestamp")
TOPIC = "tweets.raw"


def records(partition: int, offsets: range) -> list[Record]:
    return [Record(TOPIC, partition, o, b"k", b"{}", 1_700_000_000_000) for o in offsets]


class Consumer:
    """Hands out the queued polls in order; records commits, pauses and resumes."""

    def __init__(self, polls: list[list[Record]], owned: set[int] | None = None) -> None:
        self.polls = polls
        self.owned = {TopicPartition(TOPIC, p) for p in (owned if owned is not None else {0, 1})}
        self.commits: list[dict[TopicPartition, int]] = []
        self.paused_now: set[TopicPartition] = set()
        self.held_polls = 0
        self.closed = False

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Record]]:
        if self.paused_now:
            self.held_polls += 1
            threading.Event().wait(0.005)
            return {}
        if not self.polls:
            return {}
        got = self.polls.pop(0)[: max_records or None]
        out: dict[TopicPartition, list[Record]] = {}
        for r in got:
            out.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        return out

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    def commit(self, offsets: dict[TopicPartition, Any], timeout_ms: int | None = None) -> None:
        self.commits.append({tp: m.offset for tp, m in offsets.items()})

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_now |= set(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_now)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_now -= set(tps)

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return 0

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


class Pipeline:
    """Counts what it is given; its deliveries fail ``outage`` times first (the store away)."""

    def __init__(self, outage: int = 0) -> None:
        self.outage = outage
        self.prepared: list[int] = []
        self.delivered: list[int] = []

    def prepare(self, batch: list[Any]) -> PreparedBatch:
        self.prepared.append(len(batch))
        return PreparedBatch(len(batch), [], [])

    def deliver(self, batch: PreparedBatch) -> None:
        if self.outage > 0:
            self.outage -= 1
            raise StoreUnavailable("the store is away")
        self.delivered.append(batch.size)


def scorer(consumer: Consumer, pipeline: Pipeline, *, max_size: int = 4, retry_s: float = 0.01,
           stop_after_polls: int | None = None) -> BatchScorer:
    """Stops once every queued record is delivered (or after ``stop_after_polls`` empty polls), at most 5 s."""
    queued = sum(len(p) for p in consumer.polls)
    empty = {"n": 0}
    deadline = time.monotonic() + 5

    def should_stop() -> bool:
        if not consumer.polls and not consumer.paused_now:
            empty["n"] += 1
        if stop_after_polls is not None:
            return empty["n"] > stop_after_polls
        return sum(pipeline.delivered) >= queued or time.monotonic() > deadline

    s = BatchScorer(bootstrap="unused:9092", topic=TOPIC, group="g", pipeline=pipeline,  # type: ignore[arg-type]
                    metrics=ScorerMetrics(CollectorRegistry()), batch_max_size=max_size, batch_max_wait_s=0.01,
                    max_fetch_bytes=1 << 20, session_timeout_s=10, should_stop=should_stop,
                    retry_initial_s=retry_s, retry_max_s=retry_s)
    s.consumer = lambda: consumer  # type: ignore[method-assign]
    return s


def test_each_batch_commits_the_offset_after_its_newest_record_per_partition() -> None:
    consumer = Consumer([records(0, range(0, 3)) + records(1, range(10, 11)), records(0, range(3, 5))])
    pipeline = Pipeline()
    scorer(consumer, pipeline).run()
    assert pipeline.prepared == pipeline.delivered == [4, 2]  # cut at the batch's size, the rest next
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 3, TopicPartition(TOPIC, 1): 11},
                                {TopicPartition(TOPIC, 0): 5}]
    assert consumer.closed


def test_a_partition_no_longer_owned_is_not_committed() -> None:
    consumer = Consumer([records(0, range(2)) + records(1, range(2))], owned={1})
    scorer(consumer, Pipeline()).run()
    assert consumer.commits == [{TopicPartition(TOPIC, 1): 2}]


def test_an_outage_is_waited_out_paused_and_in_the_group_then_committed() -> None:
    """The batch after the held one is taken and prepared, then the loop waits with every partition paused
    (polling, so the group keeps it), and both are delivered and committed in order."""
    consumer = Consumer([records(0, range(4)), records(0, range(4, 6))])
    pipeline = Pipeline(outage=5)
    scorer(consumer, pipeline, retry_s=0.02).run()
    assert pipeline.delivered == [4, 2]
    assert consumer.held_polls > 0  # it kept polling (its membership) while the batch was held
    assert not consumer.paused_now  # and fetches again afterwards
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 4}, {TopicPartition(TOPIC, 0): 6}]


def test_a_stop_during_an_outage_leaves_the_batch_uncommitted() -> None:
    consumer = Consumer([records(0, range(3))])
    pipeline = Pipeline(outage=10**6)
    scorer(consumer, pipeline, stop_after_polls=3, retry_s=0.01).run()
    assert pipeline.delivered == []
    assert consumer.commits == []  # the next owner reads the batch again
    assert consumer.closed


def test_a_group_with_faust_members_is_a_clear_error() -> None:
    """faust and kafka-python assign partitions with different protocols: the broker refuses a mixed group, and
    the scorer says what to do instead of dying on the client's error."""
    from kafka.errors import InconsistentGroupProtocolError

    class Refused(Consumer):
        def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Record]]:
            raise InconsistentGroupProtocolError()

    consumer = Refused([])
    try:
        scorer(consumer, Pipeline(), stop_after_polls=100).run()
    except SystemExit as exc:
        assert "BADBUZZ_SCORER_ENGINE" in str(exc) and "'g'" in str(exc)
    else:
        raise AssertionError("a refused group must stop the scorer with a message")
    assert consumer.closed


def test_the_last_batch_of_a_burst_is_committed_while_the_stream_is_quiet() -> None:
    """Without a next batch to wait for, a finished delivery is still committed: the consumer lag reaches 0
    on a quiet stream instead of waiting for the next tweet."""
    consumer = Consumer([records(0, range(3))])
    deadline = time.monotonic() + 5
    s = scorer(consumer, Pipeline())
    s.should_stop = lambda: bool(consumer.commits) or time.monotonic() > deadline  # type: ignore[method-assign]
    s.run()
    assert time.monotonic() < deadline, "the commit waited for a stop"
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 3}]
