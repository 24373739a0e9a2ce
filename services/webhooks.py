"""Webhook delivery from the outbox: signed, idempotent, retried with exponential backoff.

Each POST carries
  ``X-BadBuzz-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  ``Idempotency-Key: <alert id>:<state>:<endpoint>`` (receivers drop repeats),
so a receiver can verify origin and freshness with :func:`verify_signature`. A failed delivery stays in
the outbox and is retried after 2, 4, 8, … seconds (capped at 30 s, so a recovered endpoint gets its
alerts within half a minute), forever: nothing is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from badbuzz.services.alert_store import AlertStore
from badbuzz.services.outbox_loop import start_outbox_loop

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-BadBuzz-Signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: bytes, header: str, body: bytes, *, now: float | None = None,
                     tolerance_s: float = 300) -> bool:
    """True when ``header`` is a valid signature of ``body`` made within ``tolerance_s`` seconds."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_s:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempts: int, base_s: float = 2.0, cap_s: float = 30.0) -> timedelta:
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts)))


class WebhookDispatcher:
    def __init__(self, store: AlertStore, secret: bytes, *, timeout_s: float = 5.0,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.secret = secret
        self.timeout_s = timeout_s
        self._now = wall_clock

    def deliver_due(self) -> int:
        """Try every due delivery once; returns how many succeeded."""
        ok = 0
        for outbox_id, url, payload, key, attempts in self.store.due_deliveries(self._now()):
            body = payload.encode()
            req = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                SIGNATURE_HEADER: sign(self.secret, body, int(time.time())),
                "User-Agent": "badbuzz-webhooks/1",
            })
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError as exc:
                self.store.mark_failed(outbox_id, self._now(), backoff(attempts), f"{type(exc).__name__}: {exc}")
                log.warning("webhook %s unreachable (attempt %d): %s", url, attempts + 1, exc)
                continue
            if 200 <= status < 300:
                self.store.mark_delivered(outbox_id, self._now())
                ok += 1
            else:
                self.store.mark_failed(outbox_id, self._now(), backoff(attempts), f"HTTP {status}")
                log.warning("webhook %s answered %d (attempt %d)", url, status, attempts + 1)
        return ok

    def start(self, poll_s: float = 1.0, active: Callable[[], bool] = lambda: True) -> threading.Thread:
        """Deliver in the background while ``active()``: detection never waits for an endpoint."""
        return start_outbox_loop("webhook-dispatcher", self.deliver_due, active, poll_s)
