"""Webhook delivery from the outbox: signed, idempotent, retried with exponential backoff.

Each POST carries
  ``X-BadBuzz-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  ``Idempotency-Key: <alert id>:<state>:<endpoint>`` (receivers drop repeats),
so a receiver can verify origin and freshness with :func:`verify_signature`. A failed delivery stays in
the outbox and is retried after 2, 4, 8, … seconds (capped at 30 s, so a recovered endpoint gets its
alerts within half a minute), forever: nothing is dropped (channels.py's dispatcher).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from badbuzz.stream.alerting.event import AlertEvent, slack_payload

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


class WebhookChannel:
    """One endpoint: a signed POST of the Slack-compatible payload (``text`` + ``blocks``, full event under
    ``badbuzz``). A non-2xx answer or no answer raises, so the dispatcher retries."""

    def __init__(self, url: str, secret: bytes, *, timeout_s: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s

    @property
    def destination(self) -> str:
        return self.url

    def render(self, event: AlertEvent) -> str:
        return json.dumps(slack_payload(event), ensure_ascii=False, sort_keys=True)

    def send(self, payload: str, key: str) -> None:
        body = payload.encode()
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
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
        if not 200 <= status < 300:
            raise WebhookRefused(f"HTTP {status}")


class WebhookRefused(Exception):
    """The endpoint answered, but not with a 2xx status."""
