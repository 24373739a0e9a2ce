"""Leadership fencing and time zones on the real PostgreSQL (issue 27): two alerters that both believe they
lead never both send a delivery, sessions carry keepalives and timeouts, and a database whose zone is
Europe/Paris gives UTC back across a daylight-saving change."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from badbuzz.services.alerting.channels import OutboxDispatcher
from badbuzz.services.alerting.leadership import Leadership
from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.storage.scores import ScoreStore, dialect_insert, make_engine
from badbuzz.services.storage.tables import OutboxRow
from badbuzz.stream.detection.aggregation import MINUTE
from badbuzz.stream.detection.detector import DetectorConfig
from tests.seed import scored_minutes

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class SlowChannel:
    """Records who sent which key; each send takes a while, so two senders would overlap."""

    destination = "test:slow"

    def __init__(self, sent: list[tuple[str, str]], who: str) -> None:
        self.sent, self.who = sent, who

    def render(self, event: object) -> str:
        return "{}"

    def send(self, payload: str, key: str) -> None:
        time.sleep(0.05)
        self.sent.append((self.who, key))


def queue_rows(store: AlertStore, n: int) -> None:
    with store.engine.begin() as conn:
        for i in range(n):
            conn.execute(dialect_insert(store.engine)(OutboxRow.__table__).values(
                idempotency_key=f"a{i}:firing", destination="test:slow", payload="{}", attempts=0,
                next_attempt_at=NOW - timedelta(minutes=1), created_at=NOW))


def deliver_together(*dispatchers: OutboxDispatcher) -> None:
    threads = [threading.Thread(target=d.deliver_due) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_a_deposed_leader_that_has_not_noticed_sends_nothing(database: str) -> None:
    """A's session dies (its node vanished) and B takes the lock; A still believes it leads. Before the
    fence, A's dispatcher read the cached flag and sent every row B sent."""
    engine_a, engine_b = make_engine(database), make_engine(database)
    a, b = Leadership(engine_a), Leadership(engine_b)
    assert a.hold() and a.term == 1
    assert a._conn is not None
    pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    with engine_b.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(50):
        if b.hold():
            break
        time.sleep(0.1)
    assert b.is_leader and b.term == 2 and a.is_leader  # the overlap: both think they lead
    store_a, store_b = AlertStore(engine_a), AlertStore(engine_b)
    queue_rows(store_a, 12)
    sent: list[tuple[str, str]] = []
    da = OutboxDispatcher(store_a, [SlowChannel(sent, "a")], term=lambda: a.term, wall_clock=lambda: NOW)
    db = OutboxDispatcher(store_b, [SlowChannel(sent, "b")], term=lambda: b.term, wall_clock=lambda: NOW)
    deliver_together(da, db)
    assert sorted(k for _, k in sent) == sorted(f"a{i}:firing" for i in range(12))  # each once
    assert {w for w, _ in sent} == {"b"}
    with engine_b.connect() as conn:
        assert set(conn.execute(text("SELECT claimed_term FROM alert_outbox")).scalars()) == {2}


def test_two_dispatchers_on_one_outbox_send_each_row_once(database: str) -> None:
    """Even without a term (two threads of one leader, or a term check that passed on both sides just before a
    takeover), each row is claimed with FOR UPDATE SKIP LOCKED by exactly one sender."""
    store_a, store_b = AlertStore(make_engine(database)), AlertStore(make_engine(database))
    queue_rows(store_a, 20)
    sent: list[tuple[str, str]] = []
    deliver_together(*(OutboxDispatcher(s, [SlowChannel(sent, w)], wall_clock=lambda: NOW)
                       for s, w in ((store_a, "a"), (store_b, "b"))))
    # a pass stops at a row the other holds (order within a channel), so a second pass finishes the rest
    deliver_together(*(OutboxDispatcher(s, [SlowChannel(sent, w)], wall_clock=lambda: NOW)
                       for s, w in ((store_a, "a"), (store_b, "b"))))
    keys = [k for _, k in sent]
    assert len(keys) == len(set(keys)) == 20


def test_sessions_have_keepalives_timeouts_and_utc(database: str) -> None:
    engine = make_engine(database)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
        assert conn.execute(text("SHOW tcp_keepalives_idle")).scalar() == "10"
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "1min"
        assert conn.execute(text("SHOW tcp_user_timeout")).scalar() not in ("0", None)


def test_a_paris_database_across_the_autumn_dst_change_stays_in_utc(stack: object, database: str) -> None:
    """initdb takes the host's zone. On a database set to Europe/Paris, 2026-10-25 03:00 CEST falls back to
    02:00 CET: before, psycopg returned local times, ``as_utc`` relabelled them, and minute arithmetic in the
    local zone repeated an hour. Now every session is UTC and the alerter walks the night one minute a time."""
    admin = database.replace("postgresql+psycopg://", "postgresql://")
    name = database.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Europe/Paris'")
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("SHOW TimeZone").fetchone() == ("Europe/Paris",)  # a plain session is Paris
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 CEST; the change is at 01:00 UTC
    engine = make_engine(database)
    ScoreStore(engine).write(scored_minutes(start, range(240), 0.2, random.Random(3), per_minute=10,
                                            prefix="dst-", scored_at=start))
    store = AlertStore(engine)
    counts = store.rollups("baggage", start, start + 240 * MINUTE)
    assert sorted(counts) == [start + i * MINUTE for i in range(240)]
    assert all(m.utcoffset() == timedelta(0) for m in counts)
    first = store.first_minute("baggage")
    assert first is not None and first.utcoffset() == timedelta(0) and first == start
    service = AlertService(store, DetectorConfig(), allowed_lateness=timedelta(seconds=30),
                           metrics=AlertMetrics(CollectorRegistry()), wall_clock=lambda: start + timedelta(hours=5))
    service.run_until(start + 240 * MINUTE)
    assert service.detectors["baggage"].next_minute() == start + 240 * MINUTE
