"""Webhook signing and delivery against a real local HTTP receiver: retries, backoff, idempotency keys; the
outbox dispatcher's contract with every channel (console, file, a failing one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from badbuzz.services.alerting.channels import (
    ConsoleChannel,
    FileChannel,
    OutboxDispatcher,
    PermanentDeliveryError,
    backoff,
    redact,
)
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.alerting.webhook_channel import (
    SIGNATURE_HEADER,
    WebhookChannel,
    check_webhook_url,
    sign,
    verify_signature,
)
from badbuzz.services.storage.scores import make_engine
from badbuzz.stream.detection.detector import TopicState
from badbuzz.stream.detection.event import AlertEvent, slack_payload
from badbuzz.stream.periodic import Scheduler
from tests.store_queries import all_alerts, failed_deliveries
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
    hook = WebhookChannel(receiver.url, SECRET, allow_http="loopback")
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
    dead = WebhookChannel("http://127.0.0.1:9/nothing-listens", SECRET, timeout_s=0.5, allow_http="loopback")
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


TOKEN = "T0123/B0456/very-secret-token"


@pytest.mark.parametrize(("url", "policy", "hosts", "ok"), [
    (f"https://hooks.slack.com/services/{TOKEN}", "never", (), True),
    (f"http://hooks.slack.com/services/{TOKEN}", "never", (), False),  # https only by default
    (f"http://hooks.slack.com/services/{TOKEN}", "loopback", (), False),
    ("http://127.0.0.1:8080/hook", "never", (), False),
    ("http://127.0.0.1:8080/hook", "loopback", (), True),
    ("http://[::1]:8080/hook", "loopback", (), True),
    ("http://localhost/hook", "loopback", (), True),
    ("http://10.0.0.5/hook", "always", (), True),
    ("ftp://hooks.example.org/x", "always", (), False),
    ("file:///etc/passwd", "always", (), False),
    ("https:///no-host", "never", (), False),
    (f"https://hooks.slack.com/services/{TOKEN}", "never", ("hooks.slack.com",), True),
    ("https://ops.example.org/hook", "never", (".example.org",), True),
    ("https://evil-example.org/hook", "never", (".example.org",), False),
    (f"https://attacker.net/{TOKEN}", "never", ("hooks.slack.com",), False),
])
def test_which_webhook_urls_may_receive_alerts(url: str, policy: str, hosts: tuple[str, ...], ok: bool) -> None:
    if ok:
        check_webhook_url(url, policy, hosts)  # type: ignore[arg-type]
        return
    with pytest.raises(ValueError) as err:
        check_webhook_url(url, policy, hosts)  # type: ignore[arg-type]
    assert TOKEN not in str(err.value)  # the URL's path is a credential: errors name the host only


def test_settings_refuse_an_http_webhook_without_printing_it() -> None:
    from pydantic import ValidationError

    from badbuzz.services.settings import Settings

    with pytest.raises(ValidationError) as err:
        Settings(webhook_urls=f"http://hooks.slack.com/services/{TOKEN}", webhook_secret="0123456789abcdef0123",
                 kafka_bootstrap=None)  # type: ignore[arg-type]
    assert "BADBUZZ_WEBHOOK_ALLOW_HTTP" in str(err.value)
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value.errors(include_input=False))


def test_redirects_are_refused_not_followed_and_given_up(receiver: Receiver, tmp_path: Path) -> None:
    elsewhere = Receiver()
    try:
        receiver.answers, receiver.redirect_to = [307], elsewhere.url
        hook = WebhookChannel(receiver.url, SECRET, allow_http="loopback")
        with pytest.raises(PermanentDeliveryError, match="307"):
            hook.send("{}", "k")
        assert elsewhere.posts == []
        store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
        receiver.answers = [302]
        store.save_state("baggage", TopicState(), T0, [event("firing")], [hook])
        store.save_state("baggage", TopicState(), T0, [event("resolved")], [hook])
        dispatcher = OutboxDispatcher(store, [hook], wall_clock=lambda: T0)
        # the firing is given up at once (retrying a redirect cannot help) and does not hold the resolved back
        assert dispatcher.deliver_due() == 1
        assert failed_deliveries(store.engine) == 1 and store.pending_deliveries() == 0
        assert elsewhere.posts == [] and receiver.states() == [("baggage", "resolved")]
        assert dispatcher.outcomes.labels(channel=redact(receiver.url), outcome="failed")._value.get() == 1
    finally:
        elsewhere.close()


@pytest.mark.parametrize(("status", "permanent"), [(404, True), (401, True), (410, True), (429, False),
                                                    (408, False), (500, False), (503, False)])
def test_which_answers_are_retried(receiver: Receiver, status: int, permanent: bool) -> None:
    receiver.answers = [status]
    hook = WebhookChannel(receiver.url, SECRET, allow_http="loopback")
    with pytest.raises(Exception) as err:
        hook.send("{}", "k")
    assert isinstance(err.value, PermanentDeliveryError) == permanent


def test_retries_are_bounded_in_time_then_counted_as_failed(tmp_path: Path) -> None:
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    flaky = Flaky()
    now = [T0]
    store.save_state("baggage", TopicState(), T0, [event("firing")], [flaky])
    dispatcher = OutboxDispatcher(store, [flaky], give_up_after=timedelta(hours=1), wall_clock=lambda: now[0])
    for minute in range(0, 60, 5):  # an hour of retries: still pending
        now[0] = T0 + timedelta(minutes=minute)
        dispatcher.deliver_due()
    assert store.pending_deliveries() == 1 and failed_deliveries(store.engine) == 0
    now[0] = T0 + timedelta(hours=1, minutes=1)
    dispatcher.deliver_due()
    assert store.pending_deliveries() == 0 and failed_deliveries(store.engine) == 1
    flaky.up = True
    now[0] += timedelta(hours=1)
    assert dispatcher.deliver_due() == 0 and flaky.sent == []  # given up means given up
    assert dispatcher.outcomes.labels(channel="test:flaky", outcome="retry")._value.get() == 12


class Slow:
    """A channel whose endpoint hangs for a while on every delivery."""

    destination = "test:slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[str] = []

    def render(self, event: AlertEvent) -> str:
        return event.state

    def send(self, payload: str, key: str) -> None:
        import time

        time.sleep(self.seconds)
        self.sent.append(payload)


def test_a_hanging_endpoint_does_not_delay_the_others(tmp_path: Path) -> None:
    import time

    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    printed: list[str] = []
    slow, console = Slow(3.0), ConsoleChannel(printed.append)
    store.save_state("baggage", TopicState(), T0, [event("firing")], [slow, console])
    started = time.monotonic()
    scheduler = Scheduler("alerter")
    OutboxDispatcher(store, [slow, console]).schedule(scheduler, poll_s=0.05)
    scheduler.start()
    while not printed and time.monotonic() - started < 2:
        time.sleep(0.02)
    took = time.monotonic() - started
    assert printed and took < 1.5, f"the console waited {took:.1f}s behind the slow endpoint"
    assert slow.sent == []  # still hanging
    scheduler.stop(wait=False)


def test_delivered_rows_are_purged_after_the_retention(tmp_path: Path) -> None:
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    flaky = Flaky()
    flaky.up = True
    now = [T0]
    store.save_state("baggage", TopicState(), T0, [event("firing")], [flaky, ConsoleChannel(lambda _: None)])
    dispatcher = OutboxDispatcher(store, [flaky, ConsoleChannel(lambda _: None)], retention=timedelta(days=7),
                                  wall_clock=lambda: now[0])
    assert dispatcher.deliver_due() == 2
    now[0] = T0 + timedelta(days=6)
    assert dispatcher.purge() == 0
    now[0] = T0 + timedelta(days=7, minutes=1)
    assert dispatcher.purge() == 2
    assert [a.id for a in all_alerts(store.engine)] == ["baggage-1"]  # the alert itself stays
