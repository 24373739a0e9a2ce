"""A burst after a pause: partitions with unread tweets hold the alerter's watermark back, so the first partition
scored cannot close minutes whose other tweets are still in Kafka; a partition that never moves stops holding."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import update

from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.storage.scores import EPOCH, ScoreStore, make_engine
from badbuzz.services.storage.tables import StreamProgressRow
from badbuzz.stream.contracts import IncomingMessage, Origin, RawTweet, ScoredTweet, WriteResult
from badbuzz.stream.kafka.unread import UnreadPartitions
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import PreparedBatch, ScoringPipeline

T0 = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)


def scored(partition: int, minute: int, i: int) -> ScoredTweet:
    tweet = RawTweet(f"p{partition}-m{minute}-{i}", "lost my bag", T0 + timedelta(minutes=minute, seconds=i),
                     topics=("baggage",))
    return ScoredTweet(tweet, "negative", {"negative": 0.9, "positive": 0.1}, "test:fp32", T0,
                       origin=Origin("tweets.raw", partition, i, None))


def test_unread_partitions_hold_the_watermark_after_a_pause(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    scores, alerts = ScoreStore(make_engine(url)), AlertStore(make_engine(url))
    scores.write([scored(p, 51, i) for p in (0, 1, 2) for i in range(3)])  # phase 1: every partition to 51
    with scores.engine.begin() as conn:  # ... then a pause longer than the idle time
        conn.execute(update(StreamProgressRow).values(updated_at=datetime.now(UTC) - timedelta(minutes=5)))
    scores.write([scored(0, 69, i) for i in range(3)])  # the burst: partition 0 is scored first
    idle = timedelta(seconds=60)
    # the bug: partitions 1 and 2 look idle, so partition 0 alone closes minutes 52-68
    assert alerts.event_time_progress(datetime.now(UTC), idle) == T0 + timedelta(minutes=69, seconds=2)
    scores.hold_partitions({1, 2, 7})  # what the scorer now stores first: 1 and 2 have unread tweets; 7 is new
    progress = alerts.event_time_progress(datetime.now(UTC), idle)
    assert progress == EPOCH  # partition 7 was never read: nothing closes until it is
    scores.write([scored(7, 60, 0)])
    assert alerts.event_time_progress(datetime.now(UTC), idle) == T0 + timedelta(minutes=51, seconds=2)
    scores.write([scored(p, 69, i) for p in (1, 2) for i in range(3)])
    assert alerts.event_time_progress(datetime.now(UTC), idle) == T0 + timedelta(minutes=60)  # 7 still at 60


class RecordingStore:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, records: Sequence[ScoredTweet]) -> WriteResult:
        self.calls.append(f"write {len(records)}")
        return WriteResult(inserted=len(records))

    def hold_partitions(self, partitions: Collection[int]) -> None:
        self.calls.append(f"hold {sorted(partitions)}")


def test_the_pipeline_holds_unread_partitions_before_storing_the_batch() -> None:
    store = RecordingStore()
    pipeline = ScoringPipeline.__new__(ScoringPipeline)  # only the store stage runs here
    pipeline.store = store  # type: ignore[assignment]
    pipeline.metrics = ScorerMetrics(CollectorRegistry())
    msg = IncomingMessage(b"{}", None, Origin("tweets.raw", 0, 5, None))
    batch = PreparedBatch(1, [(scored(0, 1, 0), msg)], [], pending_partitions=frozenset({1, 2}))
    pipeline._store(batch)
    assert store.calls == ["hold [1, 2]", "write 1"]
    store.calls.clear()
    pipeline._store(PreparedBatch(1, [(scored(0, 1, 1), msg)], []))
    assert store.calls == ["write 1"]  # nothing unread: no extra statement


def test_unread_follows_offsets_and_gives_up_on_a_partition_that_never_moves() -> None:
    now = [0.0]
    unread = UnreadPartitions(give_up_s=60, clock=lambda: now[0])
    unread.processed([(0, 9), (1, 4)])  # next offsets: 10 and 5
    assert unread.unread({0: 10, 1: 8, 2: 3}, {2: 3}) == {1}  # 0 caught up, 1 has 3 unread, 2 fetched all
    assert unread.unread({0: 10, 1: 8, 2: None}, {2: None}) == {1}  # unknown high watermark: no claim
    now[0] = 30
    unread.processed([(1, 5)])  # it moves: a fresh wait
    now[0] = 80
    assert unread.unread({0: 10, 1: 8}, {}) == {1}
    now[0] = 141  # 61 s without progress: a gap (commit markers), not tweets; stop holding
    assert unread.unread({0: 10, 1: 8}, {}) == frozenset()
    unread.processed([(1, 7)])
    assert unread.unread({0: 10, 1: 8}, {}) == frozenset()  # caught up
    unread.reset()
    assert unread.unread({0: 10}, {0: 4}) == {0} and not unread.read_next  # after a rebalance: the fetch position


def test_hold_and_write_keep_the_event_time_and_refresh_the_activity(tmp_path: Path) -> None:
    """The store's statements are built once: the activity time must come from each call, not from then."""
    scores = ScoreStore(make_engine(f"sqlite:///{tmp_path / 'h.db'}"))
    scores.write([scored(3, 10, 0)])

    def progress() -> tuple[datetime, float]:
        with scores.engine.begin() as conn:
            row = conn.execute(StreamProgressRow.__table__.select()).one()
            conn.execute(update(StreamProgressRow).values(updated_at=datetime.now(UTC) - timedelta(minutes=5)))
        assert row.partition == 3
        return row.max_event_time.replace(tzinfo=UTC), row.updated_at.replace(tzinfo=UTC).timestamp()

    progress()  # ages the activity by five minutes
    before = time.time()
    scores.hold_partitions([3])
    event_time, active = progress()
    assert event_time == T0 + timedelta(minutes=10) and active >= before - 1
    scores.write([scored(3, 8, 1)])  # an older tweet: the event time stays, the activity is refreshed
    event_time, active = progress()
    assert event_time == T0 + timedelta(minutes=10) and active >= before - 1
    scores.write([scored(3, 12, 2)])
    assert progress()[0] == T0 + timedelta(minutes=12, seconds=2)
