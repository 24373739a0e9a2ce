"""The live page reads indexes, not the rollups (issue 27): with 20 topics and a year-scale table, the topic
list is a loose index scan of the primary key and a tile's counts are index range reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from badbuzz.services.api import queries
from badbuzz.services.storage.scores import make_engine
from badbuzz.stream.detection.detector import DetectorConfig

pytestmark = pytest.mark.integration
TOPICS = 20
MINUTES = 20_000  # two weeks of minutes per topic: 400,000 rollup rows


def plan(conn: object, sql: str) -> str:
    return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))  # type: ignore[attr-defined]


def test_the_topic_list_and_tiles_use_the_primary_key(database: str) -> None:
    engine = make_engine(database)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO topic_minute_rollups (topic, minute, n, n_negative) "
            "SELECT 'topic-' || t, :start + m * interval '1 minute', 10, 2 "
            "FROM generate_series(1, :topics) t, generate_series(0, :minutes - 1) m"),
            {"start": start, "topics": TOPICS, "minutes": MINUTES})
        conn.execute(text("ANALYZE topic_minute_rollups"))
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    assert queries.topic_names(engine) == sorted(f"topic-{t}" for t in range(1, TOPICS + 1))
    rollup_reads = [sql for sql in seen if "topic_minute_rollups" in sql]
    assert rollup_reads, seen
    with engine.connect() as conn:
        names = "\n".join(plan(conn, sql) for sql in rollup_reads)  # what the page runs every 3 s
        distinct = plan(conn, "SELECT DISTINCT topic FROM topic_minute_rollups")
        tile = plan(conn, "SELECT minute, n, n_negative FROM topic_minute_rollups "
                          "WHERE topic = 'topic-3' AND minute >= now() - interval '1 hour'")
    print(f"topic list:\n{names}\n\nbefore (SELECT DISTINCT):\n{distinct}\n\ntile:\n{tile}")
    assert "Seq Scan on topic_minute_rollups" not in names and "Index Only Scan" in names
    assert "Seq Scan on topic_minute_rollups" not in tile
    statuses = queries.topic_statuses(engine, DetectorConfig(), ["topic-1", "topic-2"])
    newest = start + timedelta(minutes=MINUTES - 1)
    assert [s["last_minute"]["minute"] for s in statuses] == [newest, newest]
    assert statuses[0]["last_hour"]["tweets"] == 600 and statuses[0]["last_minute"]["negatives"] == 2
