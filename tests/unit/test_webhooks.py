"""Webhook signing and delivery against a real local HTTP receiver: retries, backoff, idempotency keys; the
outbox dispatcher's contract with every channel (console, file, a failing one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from badbuzz.services.alerting.channels import ConsoleChannel, FileChannel, OutboxDispatcher, backoff, redact
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.alerting.webhook_channel import SIGNATURE_HEADER, WebhookChannel, sign, verify_signature
from badbuzz.services.storage import make_engine
from badbuzz.stream.alerting.detector import TopicState
from badbuzz.stream.alerting.event import AlertEvent, slack_payload
from tests.webhook_receiver import Receiver

SECRET = b"0123456789abcdef-test-secret"
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"text": "hi"}'
    header = sign(SECRET, body, 1_700_000_000)
    assert verify_signature(SECRET, header, body, now=1_700_000_100)
    assert not verify_signature(SECRET, header, body + b" ", now=1_700_000_100)
    assert not verify_signature(b"another-secret-of-16+", header, body, now=1_700_000_100)
    assert not verify_signature(SECRET, header, body, now=1_700_001_000)  # replayed too late
    assert not verify_signature(SECRET, "garbage", body)


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(a).total_seconds() for a in range(4)] == [2, 4, 8, 16]
    assert backoff(30).total_seconds() == 30


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def event(state: str) -> AlertEvent:
    return AlertEvent("baggage-1", "baggage", state, T0, T0 - timedelta(minutes=2), T0, 0.6, 0.2, 80, 1e-9,  # type: ignore[arg-type]
                      top_terms=[("luggage", 5.1)], examples=[{"id": "1", "text": "lost my luggage"}])


def test_failed_delivery_is_kept_and_retried_later(receiver: Receiver, tmp_path: Path) -> None:
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    now = [T0]
    hook = WebhookChannel(receiver.url, SECRET)
    store.save_state("baggage", TopicState(), T0, [event("firing")], [hook])
    store.save_state("baggage", TopicState(), T0, [event("firing")], [hook])  # same alert: no duplicate
    dispatcher = OutboxDispatcher(store, [hook], wall_clock=lambda: now[0])
    receiver.fail_next = 1
    assert dispatcher.deliver_due() == 0 and store.pending_deliveries() == 1
    assert dispatcher.deliver_due() == 0  # not due yet: backoff
    now[0] = T0 + timedelta(seconds=3)
    assert dispatcher.deliver_due() == 1 and store.pending_deliveries() == 0
    headers, body = receiver.posts[0]
    assert verify_signature(SECRET, headers[SIGNATURE_HEADER], body)
    assert headers["Idempotency-Key"].startswith("baggage-1:firing:")
    doc = json.loads(body)
    assert doc == json.loads(json.dumps(slack_payload(event("firing"))))
    assert "Bad buzz on 'baggage'" in doc["text"] and doc["badbuzz"]["top_terms"][0]["term"] == "luggage"


def test_dead_endpoint_never_raises(tmp_path: Path) -> None:
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    dead = WebhookChannel("http://127.0.0.1:9/nothing-listens", SECRET, timeout_s=0.5)
    store.save_state("baggage", TopicState(), T0, [event("firing")], [dead])
    dispatcher = OutboxDispatcher(store, [dead], wall_clock=lambda: T0)
    assert dispatcher.deliver_due() == 0
    assert store.pending_deliveries() == 1


class Flaky:
    """A channel that is down until told otherwise."""

    destination = "test:flaky"

    def __init__(self) -> None:
        self.up = False
        self.sent: list[str] = []

    def render(self, event: AlertEvent) -> str:
        return f"{event.alert_id}/{event.state}"

    def send(self, payload: str, key: str) -> None:
        if not self.up:
            raise ConnectionError("channel down")
        self.sent.append(payload)


def test_every_channel_is_fed_from_the_outbox_and_a_down_one_holds_back_only_itself(tmp_path: Path) -> None:
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    printed: list[str] = []
    console, file, flaky = ConsoleChannel(printed.append), FileChannel(str(tmp_path / "alerts.jsonl")), Flaky()
    channels = [console, file, flaky]
    now = [T0]
    store.save_state("baggage", TopicState(), T0, [event("firing")], channels)
    store.save_state("baggage", TopicState(), T0, [event("resolved")], channels)
    dispatcher = OutboxDispatcher(store, channels, wall_clock=lambda: now[0])
    assert dispatcher.deliver_due() == 4  # console and file: both events; flaky: none, and only one try
    assert printed[0].startswith("[badbuzz alert] Bad buzz on 'baggage'") and "RESOLVED" in printed[1]
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["state"] for line in lines] == ["firing", "resolved"]
    assert store.pending_deliveries() == 2
    flaky.up = True
    assert dispatcher.deliver_due() == 0  # backing off
    now[0] = T0 + timedelta(seconds=3)
    assert dispatcher.deliver_due() == 2 and flaky.sent == ["baggage-1/firing", "baggage-1/resolved"]  # in order
    assert store.pending_deliveries() == 0 and len(printed) == 2  # nothing sent twice


def test_channels_must_have_distinct_destinations_and_logs_hide_webhook_paths(tmp_path: Path) -> None:
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    with pytest.raises(ValueError, match="share a destination"):
        OutboxDispatcher(store, [ConsoleChannel(), ConsoleChannel()])
    assert redact("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com/…"
    assert redact("redis:alerts") == "redis:alerts"
