"""The scorer's writer on a real PostgreSQL: COPY (the default there) against the multi-row INSERT it replaced.

Both must leave the same tables behind for the same batches, including a replay, a conflicting id, a row the
database refuses (narrowed down to that row alone) and a connection killed in the middle of a write."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import Engine, text

from badbuzz.services.storage.scores import ScoreStore, make_engine
from badbuzz.stream.contracts import Origin, RawTweet, ScoredTweet


def scored(i: int, *, text_: str | None = None, topics: tuple[str, ...] = ("all",), label: str = "negative",
           emotions: bool = True) -> ScoredTweet:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=20 * i)
    tweet = RawTweet(id=f"t{i}", text=text_ if text_ is not None else f"flight {i} late again, l'équipage 😡",
                     created_at=at, user=f"u{i % 5}", lang="fr" if i % 2 else "en", topics=topics)
    return ScoredTweet(tweet, label, {"negative": 0.7, "neutral": 0.2, "positive": 0.1}, "m:1",
                       at + timedelta(seconds=1), Origin("tweets.raw", i % 3, i),
                       {"anger": 0.6, "joy": 0.1, "optimism": 0.1, "sadness": 0.2} if emotions else None)


def batch() -> list[ScoredTweet]:
    return [scored(i, topics=("all", "delays") if i % 3 == 0 else ("all",),
                   label="negative" if i % 2 else "positive", emotions=i % 4 == 0) for i in range(40)]


def tables(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {
            "tweets": [tuple(r) for r in conn.execute(text(
                "SELECT tweet_id, text, created_at, \"user\", lang, topics::text, label, p_negative, "
                "probabilities::text, model_version, scored_at, source_partition, source_offset, emotions::text, "
                "unscored_reason FROM scored_tweets ORDER BY tweet_id"))],
            "topics": [tuple(r) for r in conn.execute(text("SELECT * FROM tweet_topics ORDER BY 1, 2"))],
            "minutes": [tuple(r) for r in conn.execute(text("SELECT * FROM topic_minute_rollups ORDER BY 1, 2"))],
            "progress": [tuple(r)[:2] for r in conn.execute(text(
                "SELECT partition, max_event_time FROM stream_progress ORDER BY 1"))],
        }


def fresh(database: str, name: str) -> str:
    admin = database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{database.rpartition('/')[0]}/{name}"


def test_copy_and_insert_leave_the_same_tables(database: str) -> None:
    insert_url = fresh(database, database.rpartition("/")[2] + "_insert")
    results = {}
    for name, url, copy in (("copy", database, True), ("insert", insert_url, False)):
        engine = make_engine(url)
        store = ScoreStore(engine, copy=copy)
        assert store._copy is copy
        first = store.write(batch())
        again = store.write(batch())  # a replay after a crash: nothing new, rollups unchanged
        clash = store.write([scored(3, text_="another tweet with the same id")])
        results[name] = (first.inserted, again.inserted, [s.tweet.id for s in clash.conflicting], tables(engine))
        engine.dispose()
    assert results["copy"][:3] == (40, 0, ["t3"])
    assert results["copy"] == results["insert"]
    stored = results["copy"][3]
    assert len(stored["tweets"]) == 40 and len(stored["topics"]) == 40 + 14
    assert sum(r[2] for r in stored["minutes"] if r[0] == "all") == 40


def test_a_row_the_database_refuses_is_rejected_alone(database: str) -> None:
    store = ScoreStore(make_engine(database))
    rows = batch()
    rows[17] = scored(17, text_="a NUL \x00 byte PostgreSQL text cannot hold")
    result = store.write(rows)
    assert [s.tweet.id for s, _ in result.rejected] == ["t17"]
    assert "NUL" in result.rejected[0][1] or "0x00" in result.rejected[0][1]
    assert result.inserted == 39
    stored = tables(store.engine)
    assert len(stored["tweets"]) == 39 and all(r[0] != "t17" for r in stored["topics"])


def test_a_connection_killed_during_writes_is_retried_and_nothing_is_lost(database: str) -> None:
    """The server ends the writer's session (as a restart or a failover would) while batches are written."""
    engine = make_engine(database)
    retries: list[BaseException] = []
    store = ScoreStore(engine, sleep=lambda s: None, on_retry=retries.append)
    admin = database.replace("postgresql+psycopg://", "postgresql://")
    stop = threading.Event()

    def kill_writers() -> None:
        # at random gaps (10-150 ms, seeded), not a fixed 20 ms: on a slow or busy machine a write's attempt took
        # longer than the fixed period, every attempt of a batch was killed and the store rightly gave up (CI
        # flake); with gaps some attempts get through, which is what a restart or a failover looks like
        gaps = random.Random(85)
        with psycopg.connect(admin, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                stop.wait(gaps.uniform(0.01, 0.15))

    killer = threading.Thread(target=kill_writers, daemon=True)
    killer.start()
    inserted = 0
    try:
        for b in range(30):
            rows = [scored(b * 50 + i) for i in range(50)]
            inserted += store.write(rows).inserted
    finally:
        stop.set()
        killer.join(5)
    assert retries, "the killer never hit a write: the test proved nothing"
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM scored_tweets")).scalar_one()
        counted = conn.execute(text("SELECT sum(n) FROM topic_minute_rollups WHERE topic = 'all'")).scalar_one()
    assert n == inserted == 1500
    assert counted == 1500  # the rollups were written with exactly the new rows, once
