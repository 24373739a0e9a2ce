"""Schema migrations and the retention job on the real PostgreSQL (scenarios in tests/migration_cases.py)."""

from __future__ import annotations

import pytest

from tests import migration_cases as cases

pytestmark = pytest.mark.integration


def test_empty_database_upgrades_downgrades_and_upgrades_again(database: str) -> None:
    cases.empty_database_upgrades_downgrades_and_upgrades_again(database)


def test_database_made_before_migrations_is_adopted_with_its_data(database: str) -> None:
    cases.database_made_before_migrations_is_adopted_with_its_data(database)


def test_retention_job_on_postgresql(database: str) -> None:
    deleted = cases.retention_keeps_rollups_and_recent_data(database)
    print(f"[measure] retention on PostgreSQL: deleted {deleted}")


def test_the_alerters_topic_list_does_not_scan_the_rollups(database: str) -> None:
    """30,000 minute rows over 3 topics: the list comes from index probes (one per topic), not a full scan."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from badbuzz.services.alerting.store import AlertStore
    from badbuzz.services.storage.scores import make_engine

    engine = make_engine(database)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"topic": topic, "minute": t0 + timedelta(minutes=m), "n": 5, "n_negative": 1}
            for topic in ("air-paradis", "baggage", "delays") for m in range(10_000)]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO topic_minute_rollups (topic, minute, n, n_negative) "
                             "VALUES (:topic, :minute, :n, :n_negative)"), rows)
        conn.execute(sa.text("ANALYZE topic_minute_rollups"))
    store = AlertStore(engine)
    assert store.topics() == ["air-paradis", "baggage", "delays"]
    skip = store.topics_query()
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {skip}")))
    print(f"[measure] topic list plan:\n{plan}")
    assert "Seq Scan" not in plan and "Index" in plan, plan
