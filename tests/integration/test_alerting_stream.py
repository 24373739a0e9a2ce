"""One injected bad-buzz episode through the real stack: Kafka → scorer → rollups → alerter → Redis,
Prometheus (rule file loaded, alert active) and a signed webhook — exactly one firing, then one resolved."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from badbuzz.models.data import iter_sentiment140
from badbuzz.services.alerting.webhook_channel import SIGNATURE_HEADER, verify_signature
from badbuzz.services.tools.replayer import scenario_record
from badbuzz.stream.detection.detector import DetectorConfig, odds_ratio
from badbuzz.stream.scoring.topics import EXAMPLE_TOPICS, TopicMatcher
from badbuzz.stream.simulation.scenario import Episode, PoolTweet, Scenario, StreamTweet, TopicSpec, generate
from tests.integration.conftest import (
    ALERTER_SECRET,
    AlerterProcess,
    ScorerProcess,
    Stack,
    Topics,
    produce,
    prometheus_query,
    wait_until,
)
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture
def alerter(stack: Stack, topics: Topics, database: str, receiver: Receiver, tmp_path: Path
            ) -> Iterator[AlerterProcess]:
    proc = AlerterProcess(stack, topics, database, receiver.url, tmp_path / "alerter.log").start()
    yield proc
    proc.stop()


def pool(s140_sample: Path) -> list[PoolTweet]:
    return [PoolTweet(r.id, r.text, r.label == "negative") for r in iter_sentiment140(s140_sample)]


@dataclass(frozen=True)
class EpisodeStream:
    """150 minutes of two topics ending half an hour ago, with one baggage episode at minutes 40-50; split two
    minutes after it ends. How soon the alert resolves depends on the window that fired it, since no window up
    to two scales above it may still hold the episode. Offline (the detector fed this scenario's minutes), with
    gold labels it fires on the 2-minute window and resolves at minute 68; with a labeller that calls 30 % of
    the positive baggage tweets negative, on the 5-minute window and at minute 83; one fired on the 10-minute
    window is held by the hour window until minute 110 and resolves about 120. The stream used to stop at
    minute 90: in CI an unseeded tiny model that called most baggage tweets negative fired late and the alert
    resolved only after the stream had ended, or not within the test's wait."""

    scenario: Scenario
    origin: datetime
    first: list[StreamTweet]
    rest: list[StreamTweet]

    @classmethod
    def build(cls, s140_sample: Path) -> EpisodeStream:
        origin = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
        scenario = Scenario(origin, 150, (TopicSpec("air-paradis", 250, 0.2), TopicSpec("baggage", 30, 0.2)),
                            (Episode("baggage", 40, 10, 4.5, 45),), daily_amplitude=0.0, seed=5)
        # each topic's tweets are about it (a baggage alert must show tweets about bags): baggage from the tweets
        # the shipped topics file puts in 'baggage'; the brand's everyday chatter is any tweet (its connector
        # found the brand in it)
        matcher = TopicMatcher.from_file(EXAMPLE_TOPICS)
        tweets = list(generate(scenario, pool(s140_sample), about=lambda text: (*matcher.assign(text), "air-paradis")))
        split = scenario.episodes[0].end(origin) + timedelta(minutes=2)
        return cls(scenario, origin, [t for t in tweets if t.created_at < split],
                   [t for t in tweets if t.created_at >= split])

    @staticmethod
    def records(tweets: list[StreamTweet]) -> list[tuple[bytes | None, bytes]]:
        return [(t.id.encode(), scenario_record(t)) for t in tweets]


def test_one_episode_one_alert_everywhere_then_resolved(
    stack: Stack, topics: Topics, scorer_factory: Callable[..., ScorerProcess], alerter: AlerterProcess,
    receiver: Receiver, s140_sample: Path,
) -> None:
    prefix = alerter.prefix
    episode = EpisodeStream.build(s140_sample)
    scenario, origin, first, rest = episode.scenario, episode.origin, episode.first, episode.rest

    client = redis.Redis.from_url(os.environ["BADBUZZ_REDIS_URL"])
    pubsub = client.pubsub()
    pubsub.subscribe(prefix + "badbuzz:alerts")
    received: list[dict[str, Any]] = []

    def listen() -> None:
        try:
            for msg in pubsub.listen():
                if msg["type"] == "message":
                    received.append(json.loads(msg["data"]))
        except (ValueError, redis.ConnectionError):  # the subscription is closed when the test ends
            return

    threading.Thread(target=listen, daemon=True).start()
    scorer = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="256")
    produce(stack.kafka, topics.raw, EpisodeStream.records(first))

    wait_until(lambda: ("baggage", "firing") in receiver.states(), 240, "the firing webhook", scorer.tail)
    wait_until(lambda: any(e["state"] == "firing" for e in received), 30, "the Redis PUBLISH")
    # this run's gauge first: the rule's ALERTS series has no test_run label, and the previous test's alert (its
    # alerter stopped while the alert was open) can still be firing there for a few scrapes
    gauge = f'badbuzz_alert_active{{topic="baggage", test_run="{topics.group}"}}'
    wait_until(lambda: prometheus_query(stack, gauge) == 1, 60, f"Prometheus {gauge}")
    query = 'ALERTS{alertname="BadBuzz", alertstate="firing", topic="baggage"}'
    wait_until(lambda: prometheus_query(stack, query) == 1, 60, f"Prometheus {query}")

    produce(stack.kafka, topics.raw, EpisodeStream.records(rest))
    # on a timeout, both logs (this once fired and never resolved in CI, and once in three full runs here)
    wait_until(lambda: ("baggage", "resolved") in receiver.states(), 240, "the resolved webhook",
               lambda: f"--- alerter\n{alerter.tail()}\n--- scorer\n{scorer.tail()}")
    time.sleep(3)  # anything more would arrive now

    assert receiver.states() == [("baggage", "firing"), ("baggage", "resolved")]
    for headers, body in receiver.posts:
        assert verify_signature(ALERTER_SECRET.encode(), headers[SIGNATURE_HEADER], body)
        assert headers["Idempotency-Key"].startswith("baggage-")
    firing = json.loads(receiver.posts[0][1])["badbuzz"]
    start = scenario.episodes[0].start(origin)
    assert start <= datetime.fromisoformat(firing["fired_at"]) <= start + timedelta(minutes=5)
    # the window's share is above the usual by the detector's own floors (in odds: a topic whose usual share is
    # high, as the tiny model makes baggage, cannot reach a fixed multiple of it)
    assert firing["signal"] == "share" and firing["volume"] >= DetectorConfig().min_volume
    assert odds_ratio(firing["negative_rate"], firing["baseline_rate"]) >= DetectorConfig().min_odds_ratio, firing
    assert firing["negative_rate"] - firing["baseline_rate"] >= DetectorConfig().min_excess, firing
    # every example is about the alert's topic (before, the stream put random tweets in 'baggage'); its words
    # are not tested: in a topic where every tweet names bags, no word stands out against the topic's past
    assert len(firing["examples"]) >= 3
    matcher = TopicMatcher.from_file(EXAMPLE_TOPICS)
    assert all("baggage" in matcher.assign(e["text"]) for e in firing["examples"]), firing["examples"]
    # the mood of the window's negative tweets, from the (tiny) emotion model: shares summing to 1, in the
    # event JSON and in the webhook's text
    assert firing["emotions"] and abs(sum(firing["emotions"].values()) - 1) < 0.01
    assert set(firing["emotions"]) <= {"anger", "joy", "optimism", "sadness"}
    top, share = max(firing["emotions"].items(), key=lambda kv: kv[1])
    assert f"Mood: {share:.0%} {top}" in json.loads(receiver.posts[0][1])["text"]
    assert received[0]["emotions"] == firing["emotions"]
    assert [e["state"] for e in received] == ["firing", "resolved"]
    history = client.xrange(prefix + "badbuzz:alerts:history")
    assert [h[1][b"state"] for h in history] == [b"firing", b"resolved"]
    current = json.loads(client.hget(prefix + "badbuzz:alerts:current", "baggage") or b"{}")
    assert current["state"] == "resolved" and current["alert_id"] == firing["alert_id"]
