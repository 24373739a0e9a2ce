"""Migration and retention scenarios shared by the SQLite unit tests and the PostgreSQL integration tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.storage import migrations
from badbuzz.services.storage.migrations.versions import v0001_initial
from badbuzz.services.storage.retention import RetentionPolicy, apply_retention
from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.services.storage.tables import AlertAckRow, AlertRow, Base
from badbuzz.stream.detection.detector import TopicState
from badbuzz.stream.detection.event import AlertEvent
from tests.seed import scored_minutes

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def schema_matches_models(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"the migrations and the models disagree: {diff}"


def empty_database_upgrades_downgrades_and_upgrades_again(url: str) -> None:
    engine = make_engine(url)
    schema_matches_models(engine)
    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "base")
        assert not sa.inspect(conn).has_table("scored_tweets")
    schema_matches_models(make_engine(url))


def database_made_before_migrations_is_adopted_with_its_data(url: str) -> None:
    """A database as an older badbuzz left it: created by create_all, without the columns and tables that came
    later (here scored_tweets.emotions and alert_acks), holding tweets and an undelivered webhook row."""
    legacy = v0001_initial.schema()
    legacy.remove(legacy.tables["alert_acks"])
    tweets = legacy.tables["scored_tweets"]
    tweets._columns.remove(tweets.c.emotions)
    engine = sa.create_engine(url)
    legacy.create_all(engine)
    with engine.begin() as conn:
        conn.execute(tweets.insert().values(
            tweet_id="t1", text="my bag is lost", created_at=NOW, user="ana", lang="en", topics=["baggage"],
            label="negative", p_negative=0.9, probabilities={"negative": 0.9}, model_version="m1", scored_at=NOW))
        conn.execute(legacy.tables["webhook_outbox"].insert().values(
            idempotency_key="a1:firing:x", url="https://hooks.example.org/x", payload="{}", attempts=3,
            next_attempt_at=NOW, created_at=NOW))
    engine.dispose()

    migrated = make_engine(url)
    schema_matches_models(migrated)
    with migrated.connect() as conn:
        assert conn.execute(sa.text("SELECT tweet_id, emotions FROM scored_tweets")).all() == [("t1", None)]
        row = conn.execute(sa.text("SELECT destination, attempts, failed_at FROM alert_outbox")).one()
    assert tuple(row) == ("https://hooks.example.org/x", 3, None)
    assert AlertStore(migrated).pending_deliveries() == 1  # still to deliver, under the new name


def retention_keeps_rollups_and_recent_data(url: str) -> dict[str, int]:
    engine = make_engine(url)
    rng = random.Random(3)
    store = ScoreStore(engine)
    old, recent = NOW - timedelta(days=45), NOW - timedelta(days=2)
    store.write(scored_minutes(old, range(0, 20), 0.3, rng, prefix="old"))  # 20 minutes of tweets 45 days ago
    store.write(scored_minutes(recent, range(0, 10), 0.3, rng, prefix="new"))
    alerts = AlertStore(engine)
    for alert_id, when, state in (("ancient", NOW - timedelta(days=800), "resolved"),
                                  ("last-month", NOW - timedelta(days=30), "resolved"),
                                  ("open-since-long", NOW - timedelta(days=800), "firing")):
        ev = AlertEvent(alert_id, "baggage", state, when, when, when, 0.6, 0.2, 50, 1e-6,  # type: ignore[arg-type]
                        resolved_at=when + timedelta(hours=1) if state == "resolved" else None)
        alerts.save_state("baggage", TopicState(), when, [ev])
    with engine.begin() as conn:
        conn.execute(sa.insert(AlertAckRow).values(alert_id="ancient", who="x", note="", key_name="k", acked_at=NOW))

    def count(table: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

    tweets_before, rollups_before = count("scored_tweets"), count("topic_minute_rollups")
    policy = RetentionPolicy(tweets=timedelta(days=30), rollups=timedelta(days=400), alerts=timedelta(days=730))
    deleted = apply_retention(engine, policy, NOW, batch=100)  # small batches: the loop is exercised
    assert deleted["scored_tweets"] > 0 and count("scored_tweets") == tweets_before - deleted["scored_tweets"]
    with engine.connect() as conn:
        oldest = conn.execute(sa.text("SELECT min(created_at) FROM scored_tweets")).scalar_one()
        assert conn.execute(sa.text("SELECT count(*) FROM tweet_topics t WHERE NOT EXISTS "
                                    "(SELECT 1 FROM scored_tweets s WHERE s.tweet_id = t.tweet_id)")).scalar_one() == 0
        ids = sorted(conn.execute(sa.select(AlertRow.id)).scalars())
    oldest = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
    assert (oldest.replace(tzinfo=UTC) if oldest.tzinfo is None else oldest) >= recent
    assert count("topic_minute_rollups") == rollups_before  # counts outlive the tweets
    assert ids == ["last-month", "open-since-long"]  # an open alert is never deleted
    assert count("alert_acks") == 0
    assert apply_retention(engine, policy, NOW) == dict.fromkeys(deleted, 0)  # idempotent
    return deleted
