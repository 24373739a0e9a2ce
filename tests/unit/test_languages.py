"""Languages in the stream: each tweet's language (tagged or detected), the model that serves it, and the
tweets no model serves stored unscored with their reason, never scored as if they were English."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from badbuzz.models.serving.language import LanguageDetector, primary_subtag
from badbuzz.models.serving.routing import UNSCORED, LanguageRouter, Route
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.services.storage.tables import ScoredTweetRow, TopicMinuteRow
from badbuzz.stream.contracts import DeadLetter, IncomingMessage, Origin, ScoredTweet
from badbuzz.stream.detection.event import AlertEvent, language_mix, language_phrase, pick_examples
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.pipeline import ScoringPipeline
from badbuzz.stream.scoring.topics import TopicMatcher
from tests.sinks import ListSink

LABELS = ["negative", "neutral", "positive"]


@dataclass
class FakePrediction:
    labels: list[str]
    probabilities: np.ndarray
    emotions: list[dict[str, float] | None] | None
    emotion_model: str | None

    def decided_labels(self) -> list[str]:
        return [self.labels[int(i)] for i in self.probabilities.argmax(1)]


class FixedModel:
    """A model that calls every text the same label: which model scored a tweet shows in its label."""

    def __init__(self, version: str, label: str, emotions: bool = False) -> None:
        self.version, self.label, self.emotions, self.seen = version, label, emotions, 0

    @property
    def labels(self) -> list[str]:
        return LABELS

    def predict(self, texts: Sequence[str]) -> FakePrediction:
        self.seen += len(texts)
        probs = np.full((len(texts), 3), 0.1, dtype=np.float32)
        probs[:, LABELS.index(self.label)] = 0.8
        emo = [{"anger": 0.9, "joy": 0.1}] * len(texts) if self.emotions else None
        return FakePrediction(LABELS, probs, emo, "emo-1" if self.emotions else None)


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


def test_primary_subtags() -> None:
    assert primary_subtag("pt-BR") == "pt" and primary_subtag("FR") == "fr" and primary_subtag("zh_Hant") == "zh"
    assert primary_subtag("und") is None and primary_subtag("") is None and primary_subtag(None) is None
    assert primary_subtag("x-klingon") is None


def test_detector_tells_the_brand_languages_apart(detector: LanguageDetector) -> None:
    assert detector.detect("Vol annulé pour la troisième fois, Air Paradis c'est une honte, plus jamais") == "fr"
    assert detector.detect("Bagage perdu, aucune réponse depuis une semaine, je suis furieux") == "fr"
    assert detector.detect("Lost my luggage again, no answer for a week, I am furious") == "en"
    assert detector.detect("Der Flug wurde gestrichen und niemand hat uns informiert") == "de"
    # mentions, links and hashtags are not language; too few letters is undetermined
    assert detector.detect("@airparadis https://t.co/xyz #fail 😡😡") is None
    assert detector.detect("ok") is None


def router(detector: LanguageDetector) -> tuple[LanguageRouter, FixedModel, FixedModel]:
    english = FixedModel("en-1", "positive", emotions=True)
    multi = FixedModel("multi-1", "negative")
    r = LanguageRouter([Route(english, frozenset({"en"}), frozenset({"en"})),
                        Route(multi, frozenset({"fr", "de", "es", "en"}))], detector=detector)
    return r, english, multi


def test_each_tweet_goes_to_the_model_of_its_language(detector: LanguageDetector) -> None:
    r, english, multi = router(detector)
    texts = ["Terrible flight, lost my bag and nobody cares at all",
             "Vol annulé et bagage perdu, aucune réponse du service client, quelle honte",
             "whatever", "Ik ben erg boos over deze vlucht, nooit meer met jullie", "ok", "hello there"]
    pred = r.route(texts, [None, None, None, None, None, "fr"])
    assert pred.languages[:2] == ["en", "fr"] and pred.languages[5] == "fr"  # the feed's tag wins
    assert pred.versions[0] == "en-1" and pred.decided[0] == "positive"
    assert pred.versions[1] == "multi-1" and pred.decided[1] == "negative"
    assert pred.versions[5] == "multi-1"
    # Dutch: no model validated on it, so not scored (and not scored as English)
    assert pred.decided[3] == UNSCORED and pred.versions[3] is None and "'nl'" in str(pred.unscored[3])
    assert np.isnan(pred.probabilities[3]).all()
    # too few letters: undetermined, scored by the fallback (the deployment's main model)
    assert pred.languages[4] is None and pred.versions[4] == "en-1"
    # emotions only where the emotion head was validated: English rows have them, French rows do not
    assert pred.emotions[0] is not None and pred.emotions[1] is None and pred.emotions[5] is None
    # "whatever": an unsure guess (Italian, 0.75) at a language no model serves is undetermined, not foreign
    assert pred.versions[2] == "en-1" and pred.unscored[2] is None
    assert english.seen + multi.seen == 5


def test_one_model_for_every_language_needs_no_detection() -> None:
    only = FixedModel("any-1", "neutral")
    r = LanguageRouter([Route(only, None)])
    pred = r.route(["Ik ben erg boos", "fine"], [None, None])
    assert not r.needs_languages and pred.decided == ["neutral", "neutral"] and pred.unscored == [None, None]


def test_unscored_tweets_are_stored_with_their_reason_and_not_counted(detector: LanguageDetector,
                                                                      tmp_path: Path) -> None:
    r, _, _ = router(detector)
    store = ScoreStore(make_engine(f"sqlite:///{tmp_path / 's.db'}"))
    scored, dead = ListSink[ScoredTweet](), ListSink[DeadLetter]()
    registry = CollectorRegistry()
    now = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    brand = TopicMatcher.from_config({"topics": [{"name": "brand", "mentions": ["airparadis"]}]})
    pipeline = ScoringPipeline(r, store, scored, dead, ScorerMetrics(registry), topics=brand,
                               wall_clock=now.timestamp)
    docs = [{"id": "nl", "text": "Ik ben erg boos over deze vlucht, nooit meer met jullie"},
            {"id": "fr", "text": "Vol annulé et bagage perdu, aucune réponse du service client, quelle honte"},
            {"id": "en", "text": "Terrible flight, lost my bag and nobody cares at all", "lang": "en-GB"}]
    batch = [IncomingMessage(json.dumps({**d, "created_at": now.isoformat(), "topics": ["brand"]}).encode(),
                             Origin("tweets.raw", 0, i)) for i, d in enumerate(docs)]
    result = pipeline.process(batch)
    assert result.scored == 3 and result.dead == 0  # stored, every one of them
    with store.engine.connect() as conn:
        rows = {row.tweet_id: row for row in conn.execute(select(ScoredTweetRow))}
        minutes = conn.execute(select(TopicMinuteRow.n, TopicMinuteRow.n_negative)
                               .where(TopicMinuteRow.topic == "brand")).one()
    assert rows["nl"].label == UNSCORED and rows["nl"].p_negative is None and "'nl'" in rows["nl"].unscored_reason
    assert rows["fr"].lang == "fr" and rows["fr"].model_version == "multi-1" and rows["fr"].emotions is None
    assert rows["en"].lang == "en-GB" and rows["en"].model_version == "en-1"  # the feed's own tag is kept
    assert tuple(minutes) == (2, 1)  # the unscored tweet is neither negative nor not
    published = {s.tweet.id: s.to_json() for s in scored.items}
    assert published["nl"]["p_negative"] is None and published["nl"]["unscored_reason"]
    get = registry.get_sample_value
    assert get("badbuzz_tweets_unscored_total", {"lang": "other"}) == 1  # nl is no served language
    assert get("badbuzz_tweets_scored_total", {"label": "negative", "lang": "fr"}) == 1
    assert get("badbuzz_tweets_scored_total", {"label": "positive", "lang": "en"}) == 1


def test_an_alert_says_which_languages_its_wave_is_in() -> None:
    mix = language_mix(["fr"] * 62 + ["en"] * 38)
    assert mix == {"fr": 0.62, "en": 0.38} and language_phrase(mix) == "62% French, 38% English"
    assert language_phrase(language_mix(["en", "en-US"])) == ""  # an English wave needs no language line
    negatives = [(f"e{i}", f"english {i}", 0.99 - i / 100, "en") for i in range(10)]
    negatives += [(f"f{i}", f"français {i}", 0.8 - i / 100, "fr") for i in range(10)]
    examples = pick_examples(sorted(negatives, key=lambda r: -r[2]), {"fr": 0.6, "en": 0.4})
    assert [e["lang"] for e in examples] == ["fr", "en", "fr", "en", "fr"]  # French shown despite lower scores
    t = datetime(2026, 1, 1, tzinfo=UTC)
    ev = AlertEvent("a", "brand", "firing", t, t, t, 0.6, 0.2, 100, 1e-6, emotions={"anger": 0.8},
                    languages=mix, emotion_coverage=0.38)
    text = ev.summary()
    assert "Languages: 62% French, 38% English." in text and "Mood (of the 38% with emotions): 80% anger" in text
