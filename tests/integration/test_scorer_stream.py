"""The scorer on the real Kafka, PostgreSQL and Prometheus: counts, crashes, bad input, scaling, metrics."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.integration.conftest import (
    ON_EVERY_ENGINE,
    ScorerProcess,
    Stack,
    Topics,
    committed_offsets,
    consume_all,
    produce,
    prometheus_query,
    row_stats,
    tweet,
    wait_until,
)
from tests.store_queries import stored_tweets

pytestmark = pytest.mark.integration
N = 2000


@ON_EVERY_ENGINE
def test_every_tweet_is_stored_once_with_probabilities(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess]
) -> None:
    scorer = scorer_factory()
    produce(stack.kafka, topics.raw, [tweet(i, "a-") for i in range(N)])
    wait_until(lambda: row_stats(database)[0] >= N, 120, f"{N} rows", scorer.tail)
    rows, distinct, p_min, p_max = row_stats(database)
    print(f"[measure] produced {N}: rows {rows}, distinct ids {distinct}, p_negative in [{p_min:.3f}, {p_max:.3f}]")
    assert (rows, distinct) == (N, N)
    assert 0.0 <= p_min <= p_max <= 1.0
    scored = consume_all(stack.kafka, topics.scored, N)
    docs = [json.loads(r.value) for r in scored]
    assert {d["id"] for d in docs} == {f"a-{i}" for i in range(N)}
    assert all(abs(sum(d["probabilities"].values()) - 1) < 1e-3 and d["model_version"] for d in docs)
    # emotions ride along for the tweets scored negative, on the topic and in PostgreSQL, and nowhere else
    negative = {d["id"] for d in docs if d["label"] == "negative"}
    assert 0 < len(negative) < N
    assert all((d["emotions"] is not None) == (d["id"] in negative) for d in docs)
    assert all(abs(sum(d["emotions"].values()) - 1) < 1e-3 and d["emotion_model"] for d in docs if d["emotions"])
    with psycopg.connect(database.replace("postgresql+psycopg", "postgresql")) as conn:
        stored = dict(conn.execute("SELECT tweet_id, emotions IS NOT NULL FROM scored_tweets").fetchall())
    assert {i for i, has in stored.items() if has} == negative


@ON_EVERY_ENGINE
def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess]
) -> None:
    first = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="16")
    producer = threading.Thread(target=produce, args=(stack.kafka, topics.raw, [tweet(i, "k-") for i in range(N)]),
                                kwargs={"pace_per_s": 400})
    producer.start()
    wait_until(lambda: row_stats(database)[0] >= 1000, 120, "the first 1,000 rows", first.tail)
    first.kill9()
    at_kill = row_stats(database)[0]
    committed = committed_offsets(stack.kafka, topics.group)
    producer.join()
    assert 0 < at_kill < N, f"the kill must land mid-stream, had {at_kill} rows"
    assert committed <= at_kill  # offsets are committed only after the rows are stored
    second = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="16")
    wait_until(lambda: row_stats(database)[0] >= N, 180, f"{N} rows after restart", second.tail)
    wait_until(lambda: second.metric("badbuzz_tweets_scored_total") >= N - committed, 60, "the restart to catch up")
    rows, distinct, _, _ = row_stats(database)
    rescored = second.metric("badbuzz_tweets_scored_total")
    print(f"[measure] SIGKILL at {at_kill} stored rows, {committed} offsets committed; after restart rows {rows}, "
          f"distinct {distinct}; restarted replica scored {rescored:.0f} = {N} - {committed} committed "
          f"({at_kill - committed} stored-but-uncommitted tweets replayed, absorbed by the idempotent store)")
    assert (rows, distinct) == (N, N)
    assert rescored == N - committed  # it resumed exactly at the committed offsets


@ON_EVERY_ENGINE
def test_malformed_messages_are_dead_lettered_and_good_ones_scored(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess]
) -> None:
    def doc(i: int, **fields: object) -> bytes:
        base: dict[str, object] = {"id": f"bad-{i}", "text": "hello", "created_at": "2026-11-22T10:00:00Z"}
        base.update(fields)
        return json.dumps({k: v for k, v in base.items() if v is not None}).encode()

    bad: list[tuple[bytes | None, bytes]] = []
    for i in range(10):
        bad.append((None, b'{"id": "x", "text": "unterminated'))                   # bad JSON
        bad.append((None, doc(100 + i, text=None)))                               # missing text
        bad.append((None, doc(200 + i, text="   ")))                              # empty text
        bad.append((None, doc(300 + i, text="x" * (1024 * 1024))))               # 1 MB text
        bad.append((None, doc(400 + i, id=[1, 2], created_at=12.5)))              # wrong types
    good = [tweet(i, "g-") for i in range(500)]
    mixed: list[tuple[bytes | None, bytes]] = []
    for i, g in enumerate(good):
        mixed.append(g)
        if i % 10 == 0:
            mixed.append(bad[i // 10])
    scorer = scorer_factory()
    produce(stack.kafka, topics.raw, mixed)
    wait_until(lambda: row_stats(database)[0] >= 500, 120, "500 good rows", scorer.tail)
    dead = consume_all(stack.kafka, topics.dlq, 50)
    assert len(dead) == 50
    headers = [dict(r.headers) for r in dead]
    kinds = Counter(h["badbuzz.error.kind"].decode() for h in headers)
    print(f"[measure] dead letters {len(dead)} by kind {dict(kinds)}; good rows {row_stats(database)[0]}")
    assert kinds == {"decode": 10, "schema": 20, "empty_text": 10, "too_large": 10}
    assert all(h["badbuzz.error.reason"] and h["badbuzz.source.topic"].decode() == topics.raw for h in headers)
    assert {int(h["badbuzz.source.offset"]) >= 0 for h in headers} == {True}
    assert sorted(len(r.value) for r in dead)[-10:][0] > 1024 * 1024  # original bytes kept, untouched
    assert row_stats(database)[:2] == (500, 500)
    assert scorer.metric("badbuzz_dlq_messages_total") == 50
    assert scorer.proc is not None and scorer.proc.poll() is None  # still alive


def test_prometheus_scrapes_the_scorer(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess]
) -> None:
    scorer = scorer_factory()
    target = stack.prometheus_targets / f"{topics.group}.json"
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{scorer.metrics_port}"],
                                   "labels": {"test_run": topics.group}}]))
    try:
        produce(stack.kafka, topics.raw, [tweet(i, "p-") for i in range(300)])
        wait_until(lambda: row_stats(database)[0] >= 300, 120, "300 rows", scorer.tail)
        query = f'sum(badbuzz_tweets_scored_total{{test_run="{topics.group}"}})'
        wait_until(lambda: prometheus_query(stack, query) == 300, 60, f"PromQL {query} == 300",
                   lambda: f"last value: {prometheus_query(stack, query)}")
        lag_query = f'count(badbuzz_consumer_lag{{test_run="{topics.group}"}} == 0)'
        # lag is measured from the broker every 5 s: all four partitions caught up, seen by Prometheus
        wait_until(lambda: prometheus_query(stack, lag_query) == 4, 60, f"PromQL {lag_query} == 4",
                   lambda: f"last value: {prometheus_query(stack, lag_query)}")
        print(f"[measure] PromQL {query} = {prometheus_query(stack, query)}; partitions at lag 0: "
              f"{prometheus_query(stack, lag_query)}")
    finally:
        target.unlink()


@ON_EVERY_ENGINE
def test_two_replicas_share_partitions_and_store_each_tweet_once(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess]
) -> None:
    a = scorer_factory(replica="a")
    b = scorer_factory(replica="b")

    def balanced() -> bool:
        owned = [a.metric("badbuzz_assigned_partitions"), b.metric("badbuzz_assigned_partitions")]
        return sum(owned) == 4 and min(owned) > 0

    wait_until(balanced, 120, "both replicas to own partitions", lambda: a.tail() + b.tail())
    produce(stack.kafka, topics.raw, [tweet(i, "s-") for i in range(N)])
    wait_until(lambda: row_stats(database)[0] >= N, 120, f"{N} rows", lambda: a.tail() + b.tail())
    assert row_stats(database)[:2] == (N, N)
    scored_a, scored_b = a.metric("badbuzz_tweets_scored_total"), b.metric("badbuzz_tweets_scored_total")
    print(f"[measure] two replicas: {scored_a:.0f} + {scored_b:.0f} scored; rows {row_stats(database)[:2]}")
    assert scored_a > 0 and scored_b > 0
    assert scored_a + scored_b == N

    def lag_series(p: ScorerProcess) -> int:  # one gauge per owned partition; a moved partition's is removed
        import urllib.request

        body = urllib.request.urlopen(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=2).read().decode()
        return sum(1 for line in body.splitlines() if line.startswith("badbuzz_consumer_lag{"))

    wait_until(lambda: lag_series(a) + lag_series(b) == 4 and a.metric("badbuzz_consumer_lag") == 0
               and b.metric("badbuzz_consumer_lag") == 0, 30, "lag measured once per partition, all caught up")
    assert lag_series(a) == a.metric("badbuzz_assigned_partitions")
    assert lag_series(b) == b.metric("badbuzz_assigned_partitions")


def test_schema_creation_is_safe_when_replicas_start_together(database: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from badbuzz.services.storage.scores import make_engine

    with ThreadPoolExecutor(6) as pool:  # six "replicas" creating the schema at once on an empty database
        engines = list(pool.map(lambda _: make_engine(database), range(6)))
    assert all(stored_tweets(e) == 0 for e in engines)


def test_the_topics_file_assigns_topics_in_server_mode(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess], tmp_path: Path
) -> None:
    """Producers send bare tweets; the scorer's topics file (keywords, @mentions, #hashtags, regexes) decides
    which topics each belongs to, in PostgreSQL, in the minute rollups and on ``tweets.scored``."""
    rules = {"topics": [
        {"name": "air-paradis", "mentions": ["@airparadis"], "keywords": ["air paradis"]},
        {"name": "baggage", "keywords": ["luggage", "baggage"], "hashtags": ["#lostbag"]},
        {"name": "delays", "regexes": [r"\bdelay(ed|s)?\b"]},
    ]}
    path = tmp_path / "topics.json"
    path.write_text(json.dumps(rules))
    texts = {"t-1": "@AirParadis lost my luggage again", "t-2": "Flight DELAYED three hours, thanks Air Paradis",
             "t-3": "where is my bag #LostBag", "t-4": "lovely crew today", "t-5": "Bagagé perdu, luggage gone",
             "t-6": "nice flight"}
    expected = {"t-1": {"all", "air-paradis", "baggage"}, "t-2": {"all", "air-paradis", "delays"},
                "t-3": {"all", "baggage"}, "t-4": {"all"}, "t-5": {"all", "baggage"}, "t-6": {"all", "delays"}}
    # t-6's producer names a configured topic and 32 it made up: those are dropped and counted, not created
    upstream = {"t-6": ["delays", *(f"invented-{i}" for i in range(31))]}
    scorer = scorer_factory(BADBUZZ_TOPICS_FILE=str(path))
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    produce(stack.kafka, topics.raw, [(k.encode(), json.dumps({"id": k, "text": t, "created_at": now,
                                                               "topics": upstream.get(k, [])}).encode())
                                      for k, t in texts.items()])
    wait_until(lambda: row_stats(database)[0] >= len(texts), 120, "the tweets stored", scorer.tail)
    with psycopg.connect(database.replace("postgresql+psycopg", "postgresql")) as conn:
        stored: dict[str, set[str]] = {}
        for tweet_id, topic in conn.execute("SELECT tweet_id, topic FROM tweet_topics").fetchall():
            stored.setdefault(tweet_id, set()).add(topic)
        rollups = dict(conn.execute("SELECT topic, SUM(n) FROM topic_minute_rollups GROUP BY topic").fetchall())
    assert stored == expected
    assert rollups == {"all": 6, "air-paradis": 2, "baggage": 3, "delays": 2}
    assert scorer.metric("badbuzz_topics_dropped_total") == 31
    published = {json.loads(r.value)["id"]: set(json.loads(r.value)["topics"])
                 for r in consume_all(stack.kafka, topics.scored, len(texts))}
    assert published == expected
