"""The scoring stage in embedded mode: in-process topic, SQLite through the same SQLAlchemy models."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.services.embedded import InProcessTopic, consume, produce_in_thread
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.services.storage.tables import TopicMinuteRow, TweetTopicRow
from badbuzz.stream.contracts import DeadLetter, IncomingMessage, Origin, ScoredTweet
from badbuzz.stream.scoring.batcher import MicroBatcher
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import ScoringPipeline
from badbuzz.stream.scoring.topics import TopicMatcher
from badbuzz.stream.scoring.validation import ValidationLimits
from tests.sinks import ListSink
from tests.store_queries import stored_tweets


@pytest.fixture
def parts(tiny_model_dir: Path, tmp_path: Path) -> tuple[ScoringPipeline, ScoreStore, CollectorRegistry]:
    registry = CollectorRegistry()
    store = ScoreStore(make_engine(f"sqlite:///{tmp_path / 'scores.db'}"))
    model = OnnxSentimentModel(tiny_model_dir, device="cpu")
    topics = TopicMatcher.from_config({"topics": [{"name": "delays", "keywords": ["late"]}]})
    pipeline = ScoringPipeline(model, store, ListSink[ScoredTweet](), ListSink[DeadLetter](),
                               ScorerMetrics(registry), limits=ValidationLimits(max_text_chars=300), topics=topics,
                               wall_clock=lambda: EVENT_TIME.timestamp() + 300)
    return pipeline, store, registry


EVENT_TIME = datetime(2026, 1, 1, tzinfo=UTC)  # the pipeline's clock is injected: five minutes later


def msg(offset: int, value: bytes) -> IncomingMessage:
    return IncomingMessage(value=value, origin=Origin("tweets.raw", 0, offset, int(time.time() * 1000)))


def good(i: int) -> bytes:
    return json.dumps({"id": f"g{i}", "text": f"my flight {i} was late", "created_at": EVENT_TIME.isoformat()}).encode()


def test_batch_is_stored_once_even_when_replayed(parts: tuple[ScoringPipeline, ScoreStore, CollectorRegistry]) -> None:
    pipeline, store, registry = parts
    batch = [msg(i, good(i)) for i in range(20)] + [msg(20, b"{oops"), msg(21, good(0))]
    first = pipeline.process(batch)
    assert (first.scored, first.inserted, first.dead) == (21, 20, 1)  # g0 twice in one batch: one row
    again = pipeline.process(batch)
    assert (again.scored, again.inserted) == (21, 0)
    assert stored_tweets(store.engine) == 20
    assert registry.get_sample_value("badbuzz_dlq_messages_total", {"kind": "decode"}) == 2
    assert registry.get_sample_value("badbuzz_rows_inserted_total") == 20
    dead = pipeline.dlq_sink.items  # type: ignore[attr-defined]
    assert dead[0].message.value == b"{oops" and dead[0].message.origin.offset == 20
    scored = pipeline.scored_sink.items  # type: ignore[attr-defined]
    assert scored[0].tweet.topics == ("all", "delays")
    with store.engine.connect() as conn:
        rollups = conn.execute(select(TopicMinuteRow.topic, TopicMinuteRow.n, TopicMinuteRow.n_negative)).all()
        members = conn.execute(select(func.count()).select_from(TweetTopicRow)).scalar_one()
    negatives = len({s.tweet.id for s in scored if s.label == "negative"})
    # one minute, two topics, each counted once per stored tweet even though the batch ran twice
    assert sorted(rollups) == [("all", 20, negatives), ("delays", 20, negatives)]
    assert members == 40
    assert all(0 <= s.p_negative <= 1 for s in scored)
    assert abs(sum(scored[0].probabilities.values()) - 1) < 1e-5


def test_in_process_stream_drains_with_max_wait(parts: tuple[ScoringPipeline, ScoreStore, CollectorRegistry]) -> None:
    pipeline, store, _ = parts
    topic = InProcessTopic("tweets.raw")

    def slow() -> object:
        for i in range(30):
            if i == 25:
                time.sleep(0.3)  # longer than max wait: the partial batch must flush on time, not at the end
            yield good(100 + i), None

    produce_in_thread(topic, slow())  # type: ignore[arg-type]
    sizes: list[int] = []
    totals = consume(topic, pipeline, MicroBatcher(10, 0.05, time.monotonic), on_batch=lambda r: sizes.append(r.scored))
    assert totals.scored == 30 and stored_tweets(store.engine) == 30
    assert sizes[:2] == [10, 10] and sum(sizes) == 30 and len(sizes) >= 4
