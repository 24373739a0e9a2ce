"""The alert service end to end on SQLite: rollups in, one alert per episode out, lifecycle, restart, outbox."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from badbuzz.services.alerting.channels import OutboxDispatcher
from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.contracts import RawTweet, ScoredTweet
from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.detection.event import AlertEvent
from tests.store_queries import all_alerts

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
ANGRY = ["lost my luggage again", "luggage lost, nobody answers", "where is my luggage #fail", "lost luggage again!!"]
CALM = ["nice crew today", "smooth flight", "good coffee on board", "landed on time"]


class ListChannel:
    """A channel of the tests (the AlertChannel contract): keeps what the dispatcher sends it."""

    destination = "test:list"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def render(self, event: AlertEvent) -> str:
        return event.encode()

    def send(self, payload: str, key: str) -> None:
        self.sent.append((payload, key))


def stream(store: ScoreStore, minutes: range, negative_share: float, rng: random.Random, per_minute: int = 40) -> None:
    batch = []
    for m in minutes:
        for i in range(per_minute):
            neg = rng.random() < negative_share
            text = rng.choice(ANGRY if neg else CALM)
            tweet = RawTweet(f"m{m}-{i}", text, T0 + timedelta(minutes=m, seconds=i), topics=("all", "baggage"))
            probs = {"negative": 0.9, "positive": 0.1} if neg else {"negative": 0.1, "positive": 0.9}
            # emotion only on negative tweets, as served: "where is my luggage" reads sad, the rest angry
            emotions = ({"anger": 0.1, "joy": 0.05, "optimism": 0.05, "sadness": 0.8} if "where" in text else
                        {"anger": 0.7, "joy": 0.1, "optimism": 0.1, "sadness": 0.1}) if neg else None
            batch.append(ScoredTweet(tweet, "negative" if neg else "positive", probs, "test:fp32", T0,
                                     emotions=emotions, emotion_model="emo:fp32" if neg else None))
    store.write(batch)


@pytest.fixture
def parts(tmp_path: Path) -> tuple[ScoreStore, AlertStore, str]:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    return ScoreStore(make_engine(url)), AlertStore(make_engine(url)), url


def service(store: AlertStore, channel: ListChannel, registry: CollectorRegistry) -> AlertService:
    # A strict alpha: these tests are about plumbing and lifecycle; false-alarm rates are measured by eval-alerts.
    return AlertService(store, DetectorConfig(alpha=1e-6), allowed_lateness=timedelta(seconds=30),
                        metrics=AlertMetrics(registry), channels=[channel],
                        wall_clock=lambda: T0 + timedelta(days=1))


def test_one_episode_gives_one_explained_alert_that_resolves(parts: tuple[ScoreStore, AlertStore, str]) -> None:
    scores, store, _ = parts
    rng = random.Random(4)
    channel, registry = ListChannel(), CollectorRegistry()
    svc = service(store, channel, registry)
    stream(scores, range(0, 90), 0.2, rng)
    assert svc.run_once() == []  # 90 calm minutes: baseline learned, nothing fires
    stream(scores, range(90, 100), 0.7, rng)
    fired = svc.run_once()
    assert sorted((e.topic, e.state) for e in fired) == [("all", "firing"), ("baggage", "firing")]
    ev = next(e for e in fired if e.topic == "baggage")
    assert ev.negative_rate > 0.4 and 0.1 < ev.baseline_rate < 0.3  # strongest window may straddle the start
    assert ev.volume >= 60 and ev.p_value < 1e-6
    # it fires on the 2-minute window three minutes into the wave: its 46 negatives are what is explained, and
    # the word of every angry text stands out; nothing from the calm texts may
    terms = {t for t, _ in ev.top_terms}
    assert "luggage" in terms and terms <= {w.strip("!#,").lower() for text in ANGRY for w in text.split()}
    assert ev.examples and all(e["text"] in ANGRY for e in ev.examples)
    # one in four angry texts reads sad: the mix says so, in the event, its summary and the stored row
    assert set(ev.emotions) == {"anger", "sadness"} and 0.6 < ev.emotions["anger"] < 0.9
    assert ev.emotions["anger"] + ev.emotions["sadness"] == pytest.approx(1.0, abs=0.002)
    assert f"Mood: {ev.emotions['anger']:.0%} anger, {ev.emotions['sadness']:.0%} sadness." in ev.summary()
    assert registry.get_sample_value("badbuzz_alert_active", {"topic": ev.topic}) == 1
    stream(scores, range(100, 150), 0.2, rng)  # calm, but an alert stays open an hour (keep_firing_minutes)
    assert [e for e in svc.run_once() if e.topic == ev.topic] == []
    stream(scores, range(150, 160), 0.2, rng)
    resolved = svc.run_once()
    assert sorted(e.state for e in resolved if e.topic == ev.topic) == ["resolved"]
    rows = {r.id: r for r in all_alerts(store.engine)}
    assert rows[ev.alert_id].state == "resolved" and rows[ev.alert_id].resolved_at is not None
    assert rows[ev.alert_id].emotions == ev.emotions
    # two topics × (firing + resolved) deliveries queued for the one channel, then delivered in order
    assert store.pending_deliveries() == 4 and channel.sent == []
    assert OutboxDispatcher(store, [channel], wall_clock=lambda: T0 + timedelta(days=1)).deliver_due() == 4
    assert store.pending_deliveries() == 0
    sent = [json.loads(p) for p, _ in channel.sent]
    assert [(d["alert_id"], d["state"]) for d in sent] == [(e.alert_id, e.state) for e in fired + resolved]
    assert channel.sent[0][1].startswith(f"{fired[0].alert_id}:firing:")


def test_only_watched_topics_alert(parts: tuple[ScoreStore, AlertStore, str]) -> None:
    scores, store, _ = parts
    rng = random.Random(4)
    svc = AlertService(store, DetectorConfig(alpha=1e-6), allowed_lateness=timedelta(seconds=30),
                       metrics=AlertMetrics(CollectorRegistry()), watched={"baggage"},
                       wall_clock=lambda: T0 + timedelta(days=1))
    stream(scores, range(0, 90), 0.2, rng)
    stream(scores, range(90, 100), 0.7, rng)
    assert [(e.topic, e.state) for e in svc.run_once()] == [("baggage", "firing")]


def test_restarted_service_continues_from_saved_state(parts: tuple[ScoreStore, AlertStore, str]) -> None:
    scores, store, url = parts
    rng = random.Random(8)
    stream(scores, range(0, 80), 0.2, rng)
    first = service(store, ListChannel(), CollectorRegistry())
    first.run_once()
    stream(scores, range(80, 90), 0.75, rng)
    again = service(AlertStore(make_engine(url)), ListChannel(), CollectorRegistry())  # fresh process
    assert again.detectors["baggage"].baseline == pytest.approx(first.detectors["baggage"].baseline)
    fired = again.run_once()
    assert {e.state for e in fired} == {"firing"}
    assert again.run_once() == []  # nothing re-evaluated twice
    stream(scores, range(90, 160), 0.2, rng)  # calm for longer than an alert is kept open (an hour)
    third = service(AlertStore(make_engine(url)), ListChannel(), CollectorRegistry())  # restart while firing
    resolved = {e.topic: e for e in third.run_once()}
    opened = {e.topic: e for e in fired}
    assert resolved["baggage"].state == "resolved"
    assert resolved["baggage"].alert_id == opened["baggage"].alert_id  # the same alert, found in the store
    assert resolved["baggage"].fired_at == opened["baggage"].fired_at


class FailingSaves(AlertStore):
    """The real store, whose next ``failures`` saves fail (as when the database goes away mid-iteration)."""

    failures = 0

    def save_state(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        if self.failures > 0:
            self.failures -= 1
            raise OSError("database went away")
        super().save_state(*args, **kwargs)  # type: ignore[arg-type]


def test_a_failed_save_loses_no_transition(parts: tuple[ScoreStore, AlertStore, str]) -> None:
    scores, _, url = parts
    store = FailingSaves(make_engine(url))
    rng = random.Random(4)
    svc = AlertService(store, DetectorConfig(alpha=1e-6), allowed_lateness=timedelta(seconds=30),
                       metrics=AlertMetrics(CollectorRegistry()), watched={"baggage"}, channels=[ListChannel()],
                       wall_clock=lambda: T0 + timedelta(days=1))
    stream(scores, range(0, 90), 0.2, rng)
    svc.run_once()
    stream(scores, range(90, 100), 0.7, rng)
    store.failures = 1
    with pytest.raises(OSError):
        svc.run_once()  # the firing transition was computed, but not committed: nothing may be remembered
    assert store.pending_deliveries() == 0 and all_alerts(store.engine) == []
    fired = svc.run_once()
    assert [(e.topic, e.state) for e in fired] == [("baggage", "firing")]
    assert [a.id for a in all_alerts(store.engine)] == [fired[0].alert_id] and store.pending_deliveries() == 1
    assert svc.run_once() == []
