"""Emotion in the product: run where the sentiment model says negative, stored, published, summarised."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, inspect, select, text

from badbuzz.models.serving.inference import OnnxSentimentModel
from badbuzz.models.serving.scoring import SentimentAndEmotion
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.services.storage.tables import ScoredTweetRow
from badbuzz.stream.contracts import DeadLetter, IncomingMessage, Origin, ScoredTweet
from badbuzz.stream.detection.event import emotion_mix, emotion_phrase
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import ScoringPipeline
from tests.conftest import SAMPLE_TEXTS
from tests.sinks import ListSink

EMOTIONS = ["anger", "joy", "optimism", "sadness"]


@pytest.fixture(scope="module")
def models(tiny_model_dir: Path, tiny_emotion_model_dir: Path) -> tuple[OnnxSentimentModel, OnnxSentimentModel]:
    return OnnxSentimentModel(tiny_model_dir, device="cpu"), OnnxSentimentModel(tiny_emotion_model_dir, device="cpu")


@pytest.mark.parametrize("scope", ["negative", "all", "off"])
def test_emotion_runs_where_the_scope_says(models: tuple[OnnxSentimentModel, OnnxSentimentModel], scope: str) -> None:
    sentiment, emotion = models
    model = SentimentAndEmotion(sentiment, emotion, scope)  # type: ignore[arg-type]
    pred = model.predict(SAMPLE_TEXTS)
    decided = pred.decided_labels()
    assert decided == sentiment.predict(SAMPLE_TEXTS).decided_labels()  # emotion never changes sentiment
    if scope == "off":
        assert pred.emotions is None and model.emotion_version is None
        return
    assert pred.emotions is not None and pred.emotion_model == emotion.version
    for label, emo in zip(decided, pred.emotions, strict=True):
        expected = scope == "all" or label == "negative"
        assert (emo is not None) == expected
        if emo is not None:
            assert sorted(emo) == EMOTIONS and sum(emo.values()) == pytest.approx(1.0, abs=1e-5)
    assert "negative" in decided and "positive" in decided  # both branches were exercised


def test_scored_tweets_carry_emotions_to_the_store_and_the_scored_topic(
        models: tuple[OnnxSentimentModel, OnnxSentimentModel], tmp_path: Path) -> None:
    sentiment, emotion = models
    store = ScoreStore(make_engine(f"sqlite:///{tmp_path / 's.db'}"))
    scored_sink = ListSink[ScoredTweet]()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    pipeline = ScoringPipeline(SentimentAndEmotion(sentiment, emotion), store, scored_sink, ListSink[DeadLetter](),
                               ScorerMetrics(CollectorRegistry()), wall_clock=lambda: now.timestamp())
    batch = [IncomingMessage(json.dumps({"id": f"t{i}", "text": t, "created_at": now.isoformat()}).encode(),
                             Origin("tweets.raw", 0, i)) for i, t in enumerate(SAMPLE_TEXTS)]
    assert pipeline.process(batch).inserted == len(SAMPLE_TEXTS)
    published = [json.loads(s.encode()) for s in scored_sink.items]
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(ScoredTweetRow.tweet_id, ScoredTweetRow.emotions)).all())
    assert published and {d["id"] for d in published} == set(stored)
    for doc in published:
        if doc["label"] == "negative":
            assert sorted(doc["emotions"]) == EMOTIONS and doc["emotion_model"] == emotion.version
            assert stored[doc["id"]] == pytest.approx(doc["emotions"], abs=1e-6)
        else:
            assert doc["emotions"] is None and "emotion_model" not in doc and stored[doc["id"]] is None


def test_an_older_database_gets_the_new_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as conn:  # scored_tweets as badbuzz created it before emotions existed
        conn.execute(text("CREATE TABLE scored_tweets (tweet_id VARCHAR(64) PRIMARY KEY, text TEXT, "
                          "created_at DATETIME, user VARCHAR(256), lang VARCHAR(16), topics JSON, label VARCHAR(32), "
                          "p_negative FLOAT, probabilities JSON, model_version VARCHAR(128), scored_at DATETIME, "
                          "source_partition INTEGER, source_offset BIGINT)"))
    engine = make_engine(url)
    assert "emotions" in {c["name"] for c in inspect(engine).get_columns("scored_tweets")}
    make_engine(url)  # idempotent


def test_emotion_mix_and_phrase() -> None:
    anger = {"anger": 0.7, "joy": 0.1, "optimism": 0.1, "sadness": 0.1}
    sad = {"anger": 0.2, "joy": 0.1, "optimism": 0.1, "sadness": 0.6}
    joy = {"anger": 0.1, "joy": 0.6, "optimism": 0.2, "sadness": 0.1}
    mix = emotion_mix([anger] * 71 + [sad] * 18 + [joy] * 5 + [None] * 40 + [{}] + [anger] * 6)
    assert mix == {"anger": 0.77, "sadness": 0.18, "joy": 0.05}
    assert emotion_phrase(mix) == "77% anger, 18% sadness"
    assert emotion_mix([]) == {} and emotion_phrase({}) == ""
