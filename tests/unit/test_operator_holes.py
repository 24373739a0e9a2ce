"""Holes an operator's first week walks into (issue 27), each closed and each proved by a test that fails on
the code before the fix: catch-up paging, a demoted alerter's gauges, time zones, retention vs dedup."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from badbuzz.services.alerting.channels import OutboxDispatcher
from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore, as_utc
from badbuzz.services.settings import Settings
from badbuzz.services.storage.scores import ScoreStore, make_engine, postgres_session_args
from badbuzz.stream.detection.detector import DetectorConfig
from tests.store_queries import all_alerts
from tests.unit.test_alerter_embedded import T0, ListChannel, stream


@pytest.fixture
def stores(tmp_path: Path) -> tuple[ScoreStore, AlertStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    return ScoreStore(engine), AlertStore(engine)


def alerter(store: AlertStore, channel: ListChannel, registry: CollectorRegistry, now: datetime) -> AlertService:
    return AlertService(store, DetectorConfig(alpha=1e-6), allowed_lateness=timedelta(seconds=30),
                        metrics=AlertMetrics(registry), channels=[channel], watched={"baggage"},
                        page_max_age=timedelta(minutes=30), wall_clock=lambda: now)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def episode(scores: ScoreStore, calm_after: int = 0) -> random.Random:
    """90 calm minutes, a 10-minute bad buzz, then ``calm_after`` calm minutes, on topic baggage."""
    rng = random.Random(4)
    stream(scores, range(0, 90), 0.2, rng)
    stream(scores, range(90, 100), 0.7, rng)
    if calm_after:
        stream(scores, range(100, 100 + calm_after), 0.2, rng)
    return rng


def test_a_catch_up_records_past_episodes_but_pages_none(stores: tuple[ScoreStore, AlertStore]) -> None:
    """An alerter back after a day's outage finds an episode that began and ended hours ago: recorded, shown,
    counted, not paged (before: both transitions were sent now, waking the team for something long over)."""
    scores, store = stores
    episode(scores, calm_after=60)
    channel, registry = ListChannel(), CollectorRegistry()
    events = alerter(store, channel, registry, T0 + timedelta(days=1)).run_once()
    assert [e.state for e in events] == ["firing", "resolved"]
    OutboxDispatcher(store, [channel]).deliver_due()
    assert channel.sent == [] and store.pending_deliveries() == 0
    rows = all_alerts(store.engine)
    assert len(rows) == 1 and rows[0].state == "resolved" and "catching up" in (rows[0].unpaged_reason or "")
    assert sample(registry, "badbuzz_alerts_unpaged_total", topic="baggage") == 2
    from badbuzz.services.api.app import _alert

    assert "catching up" in (_alert(rows[0]).unpaged_reason or "")  # the API lists it with its reason


def test_a_catch_up_still_pages_the_alert_firing_now(stores: tuple[ScoreStore, AlertStore]) -> None:
    """The same catch-up, but the episode is still going on at the end: that one is current and is paged."""
    scores, store = stores
    episode(scores)
    channel, registry = ListChannel(), CollectorRegistry()
    events = alerter(store, channel, registry, T0 + timedelta(minutes=160)).run_once()
    assert [e.state for e in events] == ["firing"]
    OutboxDispatcher(store, [channel]).deliver_due()
    assert [json.loads(p)["state"] for p, _ in channel.sent] == ["firing"]
    assert all_alerts(store.engine)[0].unpaged_reason is None


def test_live_transitions_are_paged(stores: tuple[ScoreStore, AlertStore]) -> None:
    """The bound spares live alerting: an episode found within minutes is paged both ways."""
    scores, store = stores
    rng = episode(scores)
    channel, registry = ListChannel(), CollectorRegistry()
    svc = alerter(store, channel, registry, T0 + timedelta(minutes=101))
    assert [e.state for e in svc.run_once()] == ["firing"]
    stream(scores, range(100, 160), 0.2, rng)  # an alert stays open at least an hour (keep_firing_minutes)
    svc._now = lambda: T0 + timedelta(minutes=161)
    assert [e.state for e in svc.run_once()] == ["resolved"]
    OutboxDispatcher(store, [channel]).deliver_due()
    assert [json.loads(p)["state"] for p, _ in channel.sent] == ["firing", "resolved"]


class Flips:
    """Leadership that holds for the first ``leads`` iterations, then is lost; stops the loop after ``total``."""

    def __init__(self, leads: int, total: int) -> None:
        self.leads, self.total, self.calls = leads, total, 0

    def hold(self) -> bool:
        self.calls += 1
        return self.calls <= self.leads

    def stop(self) -> bool:
        return self.calls >= self.total


def test_a_demoted_alerter_clears_its_gauges(stores: tuple[ScoreStore, AlertStore]) -> None:
    """Before: the demoted alerter kept badbuzz_alert_active=1 forever, and the page never resolved."""
    scores, store = stores
    episode(scores)
    registry = CollectorRegistry()
    svc = alerter(store, ListChannel(), registry, T0 + timedelta(minutes=101))
    flips = Flips(leads=1, total=1)
    svc.run_forever(0, stop=flips.stop, leadership=flips)  # type: ignore[arg-type]
    assert sample(registry, "badbuzz_alert_active", topic="baggage") == 1.0
    assert sample(registry, "badbuzz_alerter_leader") == 1.0
    flips.total = 2
    svc.run_forever(0, stop=flips.stop, leadership=flips)  # type: ignore[arg-type]
    assert sample(registry, "badbuzz_alert_active", topic="baggage") is None
    assert sample(registry, "badbuzz_topic_negative_rate", topic="baggage") is None
    assert sample(registry, "badbuzz_alerter_leader") == 0.0


def test_as_utc_converts_rather_than_relabels() -> None:
    paris_summer = timezone(timedelta(hours=2))
    assert as_utc(datetime(2026, 7, 1, 14, 0, tzinfo=paris_summer)) == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert as_utc(datetime(2026, 7, 1, 14, 0, tzinfo=paris_summer)).utcoffset() == timedelta(0)
    assert as_utc(datetime(2026, 7, 1, 14, 0)) == datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # SQLite's naive UTC


def test_postgres_sessions_are_utc_and_fenced() -> None:
    args = postgres_session_args("postgresql+psycopg://u@h/db")
    assert "-c timezone=UTC" in args["options"] and "statement_timeout" in args["options"]
    assert args["keepalives"] == 1 and args["keepalives_idle"] <= 30 and args["connect_timeout"] > 0
    assert postgres_session_args("sqlite:///x.db") == {}


def test_retention_shorter_than_the_dedup_window_is_refused() -> None:
    with pytest.raises(ValidationError, match="deduplication window"):
        Settings(retention_days=7, max_event_age_days=30)
    assert Settings(retention_days=7, max_event_age_days=7).retention_days == 7
    assert Settings().retention_days >= Settings().max_event_age_days


def test_settings_that_can_never_alert_are_refused_at_start(tmp_path: Path) -> None:
    """The shipped Kubernetes config watched 'air-paradis' with no topics file: every tweet landed in 'all'
    only, and nothing ever alerted, silently."""
    from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS

    with pytest.raises(ValidationError, match="could never alert"):
        Settings(alert_topics="air-paradis", topics_file=None)
    with pytest.raises(ValidationError, match="vip"):
        Settings(alert_topics="air-paradis,vip", topics_file=EXAMPLE_TOPICS)
    broken = tmp_path / "topics.json"
    broken.write_text('{"topics": [{"name": "delays"}]}')
    with pytest.raises(ValidationError, match="no rules"):
        Settings(alert_topics="delays", topics_file=broken)
    ok = Settings(alert_topics="air-paradis,delays,baggage", topics_file=EXAMPLE_TOPICS)
    assert ok.alert_topic_set == {"air-paradis", "delays", "baggage"}
    assert Settings(alert_topics="all").alert_topic_set == {"all"}


def test_a_service_started_during_a_database_outage_waits_for_it() -> None:
    """A service rolled while PostgreSQL restarts used to exit at once ("the database does not answer") and stay
    down; it now waits (BADBUZZ_DATABASE_WAIT_S), retrying with backoff, and gives up only after that."""
    import time

    from sqlalchemy.exc import OperationalError

    nowhere = "postgresql+psycopg://badbuzz:x@127.0.0.1:1/badbuzz"  # nothing listens on port 1
    started = time.monotonic()
    with pytest.raises(OperationalError):
        make_engine(nowhere, wait_s=0)
    assert time.monotonic() - started < 2
    started = time.monotonic()
    with pytest.raises(OperationalError):
        make_engine(nowhere, wait_s=4)
    assert 2.5 <= time.monotonic() - started < 10  # retried (1 s, 2 s) before giving up
