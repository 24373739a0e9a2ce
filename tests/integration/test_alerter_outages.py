"""The alerter under outages on the real servers: two alerters with the leader killed mid-episode, Redis down
while the alert fires, a webhook endpoint answering 500 for minutes. Each alert reaches every channel once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import AlerterProcess, ScorerProcess, Stack, Topics, produce, wait_until
from tests.integration.test_alerting_stream import EpisodeStream
from tests.integration.test_outages import stopped
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration


def redis_history(prefix: str) -> list[tuple[str, str]]:
    client = redis.Redis.from_url(os.environ["BADBUZZ_REDIS_URL"], socket_timeout=3)
    entries = client.xrange(prefix + "badbuzz:alerts:history")
    return [(e[1][b"topic"].decode(), e[1][b"state"].decode()) for e in entries]


def test_leader_killed_mid_episode_and_redis_down_while_firing(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess],
    receiver: Receiver, s140_sample: Path, tmp_path: Path,
) -> None:
    episode = EpisodeStream.build(s140_sample)
    a = AlerterProcess(stack, topics, database, receiver.url, tmp_path / "alerter-a.log").start()
    wait_until(lambda: a.metric("badbuzz_alerter_leader") == 1, 60, "alerter A to lead", a.tail)
    b = AlerterProcess(stack, topics, database, receiver.url, tmp_path / "alerter-b.log").start()
    try:
        wait_until(lambda: _serving(b) and b.metric("badbuzz_alerter_leader") == 0, 60, "alerter B on standby",
                   b.tail)
        scorer = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="256")
        with stopped("redis"):
            produce(stack.kafka, topics.raw, EpisodeStream.records(episode.first))
            wait_until(lambda: ("baggage", "firing") in receiver.states(), 240, "the firing webhook",
                       lambda: scorer.tail() + a.tail())
            # Mid-episode, once the leader has recorded the delivery. (A leader killed *during* a POST cannot know
            # whether it landed: the standby repeats it with the same Idempotency-Key, at least once by design.)
            wait_until(lambda: delivered(database) == 1, 30, "the leader to record the delivery", a.tail)
            a.kill9()
            killed_at = time.monotonic()
            wait_until(lambda: b.metric("badbuzz_alerter_leader") == 1, 30, "alerter B to take over", b.tail)
            takeover = time.monotonic() - killed_at
        redis_up = time.monotonic()
        wait_until(lambda: redis_history(a.prefix) == [("baggage", "firing")], 60, "the firing in Redis", b.tail)
        redis_delay = time.monotonic() - redis_up
        produce(stack.kafka, topics.raw, EpisodeStream.records(episode.rest))
        wait_until(lambda: ("baggage", "resolved") in receiver.states(), 240, "the resolved webhook (from B)",
                   lambda: scorer.tail() + b.tail())
        wait_until(lambda: len(redis_history(a.prefix)) >= 2, 30, "the resolved event in Redis")
        time.sleep(3)  # anything doubled would arrive now
        print(f"[measure] leader SIGKILLed after firing: standby took over in {takeover:.1f} s; Redis down while "
              f"firing, published {redis_delay:.1f} s after it came back; webhook posts {receiver.states()}; "
              f"Redis history {redis_history(a.prefix)}")
        assert receiver.states() == [("baggage", "firing"), ("baggage", "resolved")]
        assert redis_history(a.prefix) == [("baggage", "firing"), ("baggage", "resolved")]
        ids = {json.loads(body)["badbuzz"]["alert_id"] for _, body in receiver.posts}
        assert len(ids) == 1  # the standby resolved the alert the dead leader opened
        assert takeover <= 30
    finally:
        a.stop()
        b.stop()


def delivered(database: str) -> int:
    import psycopg

    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT count(*) FROM alert_outbox WHERE delivered_at IS NOT NULL "
                           "AND destination NOT LIKE 'redis:%'").fetchone()
    return int(row[0]) if row else 0


def _serving(p: AlerterProcess) -> bool:
    import urllib.request

    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=2).read()
    except OSError:
        return False
    return b"badbuzz_alerter_leader " in body


@pytest.mark.slow
def test_webhook_endpoint_failing_for_minutes(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess],
    receiver: Receiver, s140_sample: Path, tmp_path: Path,
) -> None:
    episode = EpisodeStream.build(s140_sample)
    receiver.fail_until = time.monotonic() + 125  # the endpoint answers 500 for over two minutes
    alerter = AlerterProcess(stack, topics, database, receiver.url, tmp_path / "alerter.log").start()
    try:
        scorer = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="256")
        produce(stack.kafka, topics.raw, EpisodeStream.records(episode.first + episode.rest))
        wait_until(lambda: receiver.refused > 0, 240, "the first refused delivery", scorer.tail)
        wait_until(lambda: len(receiver.posts) >= 2, 300, "both deliveries after the endpoint recovered",
                   alerter.tail)
        recovered_after = time.monotonic() - receiver.fail_until
        time.sleep(5)
        print(f"[measure] webhook answered 500 for 125 s ({receiver.refused} refused attempts); both alerts "
              f"delivered {recovered_after:.0f} s after it recovered: {receiver.states()}")
        assert receiver.states() == [("baggage", "firing"), ("baggage", "resolved")]
    finally:
        alerter.stop()
