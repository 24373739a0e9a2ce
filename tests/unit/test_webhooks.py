"""Webhook signing and delivery against a real local HTTP receiver: retries, backoff, idempotency keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from badbuzz.services.alert_store import AlertStore
from badbuzz.services.storage import make_engine
from badbuzz.services.webhooks import SIGNATURE_HEADER, WebhookDispatcher, backoff, sign, verify_signature
from badbuzz.stream.alerting.detector import TopicState
from badbuzz.stream.alerts import AlertEvent, slack_payload
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
    store.save_state("baggage", TopicState(), T0, [event("firing")], [receiver.url])
    store.save_state("baggage", TopicState(), T0, [event("firing")], [receiver.url])  # same alert: no duplicate
    dispatcher = WebhookDispatcher(store, SECRET, wall_clock=lambda: now[0])
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
    store.save_state("baggage", TopicState(), T0, [event("firing")], ["http://127.0.0.1:9/nothing-listens"])
    dispatcher = WebhookDispatcher(store, SECRET, timeout_s=0.5, wall_clock=lambda: T0)
    assert dispatcher.deliver_due() == 0
    assert store.pending_deliveries() == 1
