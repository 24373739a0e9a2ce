"""One injected bad-buzz episode through the real stack: Kafka → scorer → rollups → alerter → Redis,
Prometheus (rule file loaded, alert active) and a signed webhook — exactly one firing, then one resolved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from badbuzz.models.data import iter_sentiment140
from badbuzz.services.replayer import scenario_record
from badbuzz.services.webhooks import SIGNATURE_HEADER, verify_signature
from badbuzz.stream.scenario import Episode, PoolTweet, Scenario, TopicSpec, generate
from tests.integration.conftest import ScorerProcess, Stack, Topics, free_port, produce, prometheus_query, wait_until
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration
SECRET = "integration-test-secret-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alerter(stack: Stack, topics: Topics, database: str, receiver: Receiver, tmp_path: Path
            ) -> Iterator[tuple[int, str]]:
    port = free_port()
    prefix = f"{topics.group}:"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADBUZZ_")}
    env.update({"BADBUZZ_DATABASE_URL": database, "BADBUZZ_REDIS_URL": os.environ["BADBUZZ_REDIS_URL"],
                "BADBUZZ_METRICS_PORT": str(port), "BADBUZZ_WEBHOOK_URLS": receiver.url,
                "BADBUZZ_WEBHOOK_SECRET": SECRET, "BADBUZZ_ALERT_POLL_S": "0.5",
                # the team pages on its brand topics; 'all' may also move when a large share of traffic is angry
                "BADBUZZ_ALERT_TOPICS": "air-paradis,baggage",
                "BADBUZZ_REDIS_PREFIX": prefix, "BADBUZZ_HOME": str(tmp_path / "alerter"), "PYTHONUNBUFFERED": "1"})
    log = open(tmp_path / "alerter.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "badbuzz.services.cli", "services", "alerter"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    target = stack.prometheus_targets / f"{topics.group}-alerter.json"
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"test_run": topics.group}}]))
    yield port, prefix
    target.unlink()
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


def pool(s140_sample: Path) -> list[PoolTweet]:
    return [PoolTweet(r.id, r.text, r.label == "negative") for r in iter_sentiment140(s140_sample)]


def test_one_episode_one_alert_everywhere_then_resolved(
    stack: Stack, topics: Topics, scorer_factory: Callable[..., ScorerProcess], alerter: tuple[int, str],
    receiver: Receiver, s140_sample: Path,
) -> None:
    _, prefix = alerter
    origin = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    scenario = Scenario(origin, 70, (TopicSpec("air-paradis", 250, 0.2), TopicSpec("baggage", 30, 0.2)),
                        (Episode("baggage", 40, 10, 4.5, 45, theme="work"),), daily_amplitude=0.0, seed=5)
    tweets = list(generate(scenario, pool(s140_sample)))
    episode_end = scenario.episodes[0].end(origin)
    first = [t for t in tweets if t.created_at < episode_end + timedelta(minutes=2)]
    rest = [t for t in tweets if t.created_at >= episode_end + timedelta(minutes=2)]

    client = redis.Redis.from_url(os.environ["BADBUZZ_REDIS_URL"])
    pubsub = client.pubsub()
    pubsub.subscribe(prefix + "badbuzz:alerts")
    received: list[dict[str, Any]] = []

    def listen() -> None:
        for msg in pubsub.listen():
            if msg["type"] == "message":
                received.append(json.loads(msg["data"]))

    threading.Thread(target=listen, daemon=True).start()
    scorer = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="256")
    produce(stack.kafka, topics.raw, [(t.id.encode(), scenario_record(t)) for t in first])

    wait_until(lambda: ("baggage", "firing") in receiver.states(), 240, "the firing webhook", scorer.tail)
    wait_until(lambda: any(e["state"] == "firing" for e in received), 30, "the Redis PUBLISH")
    query = 'ALERTS{alertname="BadBuzz", alertstate="firing", topic="baggage"}'
    wait_until(lambda: prometheus_query(stack, query) == 1, 60, f"Prometheus {query}")
    active = prometheus_query(stack, f'badbuzz_alert_active{{topic="baggage", test_run="{topics.group}"}}')
    assert active == 1

    produce(stack.kafka, topics.raw, [(t.id.encode(), scenario_record(t)) for t in rest])
    wait_until(lambda: ("baggage", "resolved") in receiver.states(), 240, "the resolved webhook", scorer.tail)
    time.sleep(3)  # anything more would arrive now

    assert receiver.states() == [("baggage", "firing"), ("baggage", "resolved")]
    for headers, body in receiver.posts:
        assert verify_signature(SECRET.encode(), headers[SIGNATURE_HEADER], body)
        assert headers["Idempotency-Key"].startswith("baggage-")
    firing = json.loads(receiver.posts[0][1])["badbuzz"]
    start = scenario.episodes[0].start(origin)
    assert start <= datetime.fromisoformat(firing["fired_at"]) <= start + timedelta(minutes=5)
    assert firing["negative_rate"] > 1.3 * firing["baseline_rate"] and firing["volume"] >= 30
    assert "work" in [t["term"] for t in firing["top_terms"]][:3]  # the episode's story surfaces
    assert len(firing["examples"]) >= 3
    assert [e["state"] for e in received] == ["firing", "resolved"]
    history = client.xrange(prefix + "badbuzz:alerts:history")
    assert [h[1][b"state"] for h in history] == [b"firing", b"resolved"]
    current = json.loads(client.hget(prefix + "badbuzz:alerts:current", "baggage") or b"{}")
    assert current["state"] == "resolved" and current["alert_id"] == firing["alert_id"]
