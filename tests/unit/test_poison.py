"""The poison corpus through validation and through the whole embedded pipeline: conservation holds."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.contracts import DeadLetter, IncomingMessage, Origin, ScoredTweet
from badbuzz.stream.errors import InvalidMessage
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import ScoringPipeline
from badbuzz.stream.scoring.validation import ValidationLimits, check_event_time, decode_tweet
from tests.poison import duplicate_pair, poison_corpus
from tests.sinks import ListSink
from tests.store_queries import stored_tweets

NOW = datetime.now(UTC)


@pytest.mark.parametrize(("trouble", "value", "expected"), poison_corpus("u-", NOW), ids=lambda v: str(v)[:30])
def test_each_poison_kind_gets_its_outcome(trouble: str, value: bytes, expected: str) -> None:
    limits = ValidationLimits()
    try:
        check_event_time(decode_tweet(value, limits), NOW, limits)
        outcome = "stored"
    except InvalidMessage as exc:
        outcome = exc.kind
        assert exc.reason and len(exc.reason) < 400, trouble
    assert outcome == expected, trouble


def test_no_clamping_of_event_time() -> None:
    limits = ValidationLimits()
    soon = json.dumps({"id": "1", "text": "x", "created_at": NOW.timestamp() + 300}).encode()
    check_event_time(decode_tweet(soon, limits), NOW, limits)  # within the 10-minute skew: accepted as is
    later = json.dumps({"id": "1", "text": "x", "created_at": NOW.timestamp() + 3600}).encode()
    with pytest.raises(InvalidMessage, match="ahead of the scorer's clock") as info:
        check_event_time(decode_tweet(later, limits), NOW, limits)
    assert info.value.kind == "future_event_time"


class FlakySink(ListSink[DeadLetter]):
    """Acknowledges nothing on its first ``fails`` flushes (like a broker that is down), then everything."""

    def __init__(self, fails: int) -> None:
        super().__init__()
        self.fails = fails
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        if self.flushes <= self.fails:
            from badbuzz.stream.errors import SinkError

            self.items.clear()
            raise SinkError("not acknowledged")


def _pipeline(model_dir: Path, store: ScoreStore, dlq: ListSink[DeadLetter]) -> ScoringPipeline:
    return ScoringPipeline(OnnxSentimentModel(model_dir, device="cpu"), store, ListSink[ScoredTweet](), dlq,
                           ScorerMetrics(CollectorRegistry()))


def test_conservation_through_the_embedded_pipeline(tiny_model_dir: Path, tmp_path: Path) -> None:
    corpus = poison_corpus("e-", NOW) + duplicate_pair("e-", NOW)
    good = [("good", json.dumps({"id": f"e-good{i}", "text": f"flight {i} delayed", "created_at": NOW.isoformat()})
             .encode(), "stored") for i in range(40)]
    messages = [m for pair in zip(good, corpus, strict=False) for m in pair] + good[len(corpus):]
    store = ScoreStore(make_engine(f"sqlite:///{tmp_path / 's.db'}"))
    dlq = ListSink[DeadLetter]()
    pipeline = _pipeline(tiny_model_dir, store, dlq)
    batch = [IncomingMessage(v, Origin("raw", 0, i, int(time.time() * 1000))) for i, (_, v, _) in enumerate(messages)]
    result = pipeline.process(batch)
    expected_dead = {i: kind for i, (_, _, kind) in enumerate(messages) if kind != "stored"}
    assert {d.message.origin.offset: d.kind for d in dlq.items} == expected_dead
    stored_ids = {s.tweet.id for s in pipeline.scored_sink.items}  # type: ignore[attr-defined]
    assert result.scored + result.dead == len(messages)
    assert stored_tweets(store.engine) == len(stored_ids) == result.inserted == len(messages) - len(expected_dead)


def test_store_rejection_is_isolated_and_dead_letters_are_not_resent(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A row the database refuses (here a trigger, as PostgreSQL refuses a too-long value) is bisected out."""
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")

    @event.listens_for(engine, "connect")
    def _trigger(conn, _record) -> None:  # type: ignore[no-untyped-def]
        conn.execute("CREATE TEMP TRIGGER IF NOT EXISTS refuse BEFORE INSERT ON scored_tweets "
                     "WHEN NEW.text LIKE '%refuse me%' BEGIN SELECT RAISE(ABORT, 'refused by test'); END")

    engine.dispose()
    dlq = FlakySink(fails=2)
    pipeline = _pipeline(tiny_model_dir, ScoreStore(engine), dlq)
    values = [{"id": f"r{i}", "text": "refuse me" if i in (3, 17) else f"late {i}", "created_at": NOW.isoformat()}
              for i in range(32)]
    batch = [IncomingMessage(json.dumps(v).encode(), Origin("raw", 0, i)) for i, v in enumerate(values)]
    batch.append(IncomingMessage(b"{broken", Origin("raw", 0, 32)))
    prepared = pipeline.prepare(batch)
    for _ in range(2):
        with pytest.raises(Exception, match="not acknowledged"):
            pipeline.deliver(prepared)
    result = pipeline.deliver(prepared)
    assert (result.scored, result.inserted, result.dead) == (30, 30, 3)
    assert sorted((d.message.origin.offset, d.kind) for d in dlq.items) == [
        (3, "store_rejected"), (17, "store_rejected"), (32, "decode")]
    assert "refused by test" in next(d.reason for d in dlq.items if d.kind == "store_rejected")
    assert stored_tweets(pipeline.store.engine) == 30  # type: ignore[attr-defined]
    assert pipeline.metrics.registry.get_sample_value("badbuzz_dlq_messages_total", {"kind": "store_rejected"}) == 2


def test_null_model_keeps_the_stream_whole_and_the_stages_are_timed(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The null model of `badbuzz bench --null-model` scores every tweet (constant, uniform) with the real
    shapes, and each stage's CPU lands in its own counter."""
    from badbuzz.stream.scoring.metrics import STAGES

    model = OnnxSentimentModel(tiny_model_dir, device="cpu")
    real = model.predict(["flight delayed", "great crew"]).probabilities
    model.skip_inference()
    assert model.version.endswith("+null")
    store = ScoreStore(make_engine(f"sqlite:///{tmp_path / 's.db'}"))
    metrics = ScorerMetrics(CollectorRegistry())
    pipeline = ScoringPipeline(model, store, ListSink[ScoredTweet](), ListSink[DeadLetter](), metrics)
    messages = [json.dumps({"id": f"n{i}", "text": f"flight {i} delayed " * (i % 7 + 1),
                            "created_at": NOW.isoformat()}).encode() for i in range(300)]
    result = pipeline.process([IncomingMessage(v, Origin("raw", 0, i)) for i, v in enumerate(messages)])
    assert result.scored == result.inserted == 300 and stored_tweets(store.engine) == 300
    probs = model.predict(["flight delayed", "great crew"]).probabilities
    assert probs.shape == real.shape and (abs(probs - 1 / real.shape[1]) < 1e-6).all()
    cpu = {s: metrics.stage_cpu.labels(stage=s)._value.get() for s in STAGES}
    assert all(v > 0 for v in cpu.values()), cpu
