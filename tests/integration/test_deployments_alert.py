"""Every shipped deployment alerts on the example topics out of the box (issue 27).

For the stack (``deploy/stack.sh env``), compose (``docker-compose.yml`` with ``deploy/secrets.sh``'s .env) and
Kubernetes (``deploy/k8s`` rendered as kustomize would: ConfigMap, generated topics ConfigMap, Secret keys,
mounted files), the scorer and the alerter run as local processes with exactly the environment and files that
deployment gives them. Overridden, and only these: where the servers are (the local stack's instead of
``kafka:9092`` or ``postgres``), and what keeps tests apart (the test's own database, Kafka topics and
consumer group, Redis prefix, metrics ports, home). An hour of bare brand tweets (no topics attached: the
deployment's topics file must find them) with a baggage wave goes in; a paged alert on a watched topic,
with examples about it, must come out. Before this, the Kubernetes deployment watched 'air-paradis' without
a topics file and could never alert.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from badbuzz.models.data import iter_sentiment140
from badbuzz.services.settings import Settings
from badbuzz.stream.scoring.topics import TopicMatcher
from badbuzz.stream.simulation.scenario import Episode, PoolTweet, Scenario, TopicSpec, generate
from tests.deployments import compose_service_env, k8s_service_env, stack_env
from tests.integration.conftest import CommandProcess, Stack, Topics, free_port, produce, wait_until
from tests.unit.test_compose import generated_env

pytestmark = pytest.mark.integration


def rendered(kind: str, tmp_path: Path, stack: Stack) -> dict[str, dict[str, str]]:
    """{service: environment} as the deployment gives them."""
    if kind == "stack":
        env = stack_env()
        return {"scorer": dict(env), "alerter": dict(env)}
    if kind == "compose":
        dotenv = generated_env(tmp_path)
        return {s: compose_service_env(s, dotenv) for s in ("scorer", "alerter")}
    secrets = {"database-url": "postgresql+psycopg://badbuzz:x@db.example.internal:5432/badbuzz",
               "redis-url": "redis://:x@redis.example.internal:6379/0", "webhook-urls": "",
               "webhook-secret": "0123456789abcdef0123456789abcdef"}
    return {s: k8s_service_env(f"badbuzz-{s}", secrets, tmp_path / "k8s-files" / s) for s in ("scorer", "alerter")}


def localised(env: dict[str, str], stack: Stack, topics: Topics, database: str, home: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
    out.update(env)
    out.update({
        "BADBUZZ_KAFKA_BOOTSTRAP": stack.kafka, "BADBUZZ_DATABASE_URL": database,
        "BADBUZZ_REDIS_URL": os.environ["BADBUZZ_REDIS_URL"], "BADBUZZ_REDIS_PREFIX": f"{topics.group}:",
        "BADBUZZ_KAFKA_TOPIC_RAW": topics.raw, "BADBUZZ_KAFKA_TOPIC_SCORED": topics.scored,
        "BADBUZZ_KAFKA_TOPIC_DLQ": topics.dlq,
        "BADBUZZ_CONSUMER_GROUP": topics.group, "BADBUZZ_METRICS_PORT": str(free_port()),
        "BADBUZZ_METRICS_ADDR": "127.0.0.1", "BADBUZZ_HOME": str(home), "PYTHONUNBUFFERED": "1",
    })
    out.pop("BADBUZZ_PROMETHEUS_TARGETS", None)  # not this test's subject; keeps Prometheus's targets clean
    return out


def brand_hours(s140_sample: Path, matcher: TopicMatcher) -> list[tuple[bytes | None, bytes]]:
    """Three to four hours of tweets naming the brand, ending now, with a 10-minute baggage wave 160 minutes in:
    bare records (id, text, created_at), as a connector without a topics file would send them.

    Three hours, not one: with 40 minutes of history the baggage topic's usual share rested on 400 tweets, the
    wave's first minutes (not yet significant) taught it, and whether the wave then fired depended on which
    tweets the scorer's batches held (int8 scores move a little with their batch-mates): offline, with the
    released model and the wave's tweets batched eight ways, it fired in four. With 160 minutes it fired in
    all twenty batchings tried offline, between minutes 162 and 167; live, 'baggage' itself still stayed quiet
    in two of twelve deployment runs (the brand's topic fired on the same wave), so the test waits for either.

    The minute of the hour the history starts at matters too: started from 28 to 42 past, the topics' first
    hour was partial (18 to 32 minutes), and from three hours on that thin hour became their usual share;
    neither watched topic fired (a CI run at 00:27 missed on all three deployments). The detector now keeps
    today's share while the lagged one rests on under 1,000 tweets and a quarter of today's
    (``share_lag_min_tweets``, tests/unit/test_multiscale_detector.py); offline, with the released models, each
    of the hour's 60 start minutes then fired on a watched topic, both of them in 40. The history
    starts on the hour, three hours before this one, so the test no longer depends on the clock: it runs
    178 to 237 minutes and ends two minutes ago."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    origin = now.replace(minute=0) - timedelta(hours=3)
    minutes = int((now - origin).total_seconds() // 60) - 2
    pool = [PoolTweet(r.id, r.text, r.label == "negative") for r in iter_sentiment140(s140_sample)]
    scenario = Scenario(origin, minutes, (TopicSpec("air-paradis", 40, 0.2), TopicSpec("baggage", 10, 0.2)),
                        (Episode("baggage", 160, 10, 4.0, 40),), daily_amplitude=0.0, seed=11)
    tweets = generate(scenario, pool, about=matcher.assign, brand="@AirParadis")
    return [(t.id.encode(), json.dumps({"id": t.id, "text": t.text, "created_at": t.created_at.isoformat()},
                                       ensure_ascii=False).encode()) for t in tweets]


@pytest.fixture
def running() -> Iterator[list[CommandProcess]]:
    started: list[CommandProcess] = []
    yield started
    for s in started:
        s.stop()


@pytest.mark.parametrize("kind", ["stack", "compose", "k8s"])
def test_each_deployment_alerts_on_the_example_topics(
    kind: str, stack: Stack, topics: Topics, database: str, s140_sample: Path, tmp_path: Path,
    running: list[CommandProcess],
) -> None:
    envs = {name: localised(env, stack, topics, database, tmp_path / name) for name, env in
            rendered(kind, tmp_path, stack).items()}
    settings = Settings(**{k[len("BADBUZZ_"):].lower(): v for k, v in envs["alerter"].items()  # type: ignore[arg-type]
                           if k in ("BADBUZZ_TOPICS_FILE", "BADBUZZ_ALERT_TOPICS")})
    watched = settings.alert_topic_set
    assert {"air-paradis", "baggage"} <= watched, f"{kind} watches {watched}"
    matcher = settings.topic_matcher()
    scorer = CommandProcess(["services", "scorer"], envs["scorer"], tmp_path / "scorer.log").start()
    alerter = CommandProcess(["services", "alerter"], envs["alerter"], tmp_path / "alerter.log").start()
    running.extend([scorer, alerter])
    sent = brand_hours(s140_sample, matcher)
    produce(stack.kafka, topics.raw, sent)
    admin = database.replace("postgresql+psycopg://", "postgresql://")

    def alerts() -> list[tuple[str, str, list[dict[str, str]], str | None]]:
        try:
            with psycopg.connect(admin) as conn:
                return conn.execute("SELECT topic, state, examples, unpaged_reason FROM alerts").fetchall()
        except psycopg.Error:
            return []

    # the wave pages on a watched example topic: 'baggage' itself, or the brand's topic, where the same wave shows
    # (its words say "baggage"). Which of the two fires is the detector's call at 10 tweets a minute, and varied
    # between runs (int8 scores move with their batch-mates); this test is about the deployment's wiring
    def stored() -> str:
        """What the scorer had stored by then: tells a scorer that took nothing from an alerter that saw no wave."""
        try:
            with psycopg.connect(admin) as conn:
                row = conn.execute("SELECT count(*), max(created_at), max(scored_at) FROM scored_tweets").fetchone()
                topics = conn.execute("SELECT topic, count(*) FROM tweet_topics GROUP BY topic").fetchall()
            return f"--- stored: {row} of {len(sent)} tweets sent, per topic {topics}"
        except psycopg.Error as exc:
            return f"--- stored: unknown ({exc})"

    wait_until(lambda: any(t in watched for t, *_ in alerts()), 300, f"an alert from the {kind} deployment",
               lambda: scorer.tail() + "\n--- alerter\n" + alerter.tail() + "\n" + stored())
    found = [a for a in alerts() if a[0] in watched]
    with psycopg.connect(admin) as conn:
        queued = conn.execute("SELECT count(*) FROM alert_outbox").fetchone()
    print(f"[measure] {kind}: alerts {[(t, s) for t, s, *_ in found]}, deliveries queued {queued[0] if queued else 0}")
    for topic, _, examples, unpaged in found:
        assert unpaged is None, f"{topic}: {unpaged}"  # paged, not only recorded
        assert examples and all(topic in matcher.assign(e["text"]) for e in examples), examples
    assert queued and queued[0] >= 1
