"""Webhook delivery from the outbox: signed, idempotent, retried with exponential backoff.

Each POST carries
  ``X-BadBuzz-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  ``Idempotency-Key: <alert id>:<state>:<endpoint>`` (receivers drop repeats),
so a receiver can verify origin and freshness with :func:`verify_signature`. A failed delivery stays in
the outbox and is retried after 2, 4, 8, … seconds (capped at 30 s, so a recovered endpoint gets its
alerts within half a minute) until the dispatcher's give-up time (channels.py).

Hardened, because a webhook URL is both a secret and a way out of the network: https only unless http is
allowed explicitly (``BADBUZZ_WEBHOOK_ALLOW_HTTP=loopback`` for a local relay), an optional allow-list of
hosts, no redirects followed (a 3xx is refused, not re-sent elsewhere), a timeout on every request, and an
answer that retrying cannot fix (a redirect, a 4xx other than 408/425/429) gives up at once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import time
import urllib.parse
from typing import Literal

import httpx

from badbuzz.services.alerting.channels import PermanentDeliveryError, redact
from badbuzz.stream.detection.event import AlertEvent, slack_payload

HttpPolicy = Literal["never", "loopback", "always"]
RETRYABLE_4XX = {408, 425, 429}  # timeout, too early, rate limited: worth another try

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


def check_webhook_url(url: str, allow_http: HttpPolicy = "never", allowed_hosts: tuple[str, ...] = ()) -> None:
    """Raise ValueError (naming only the URL's host: the rest may hold a token) unless ``url`` may receive
    alerts: https, or http where ``allow_http`` allows it; a host on ``allowed_hosts`` when that is given
    (``hooks.slack.com`` matches that host, ``.example.org`` any host under it)."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    shown = redact(url)
    if not host:
        raise ValueError(f"webhook URL without a host: {shown}")
    if parts.scheme == "http":
        loopback = host == "localhost" or _is_loopback(host)
        if allow_http == "never" or (allow_http == "loopback" and not loopback):
            raise ValueError(f"webhook {shown} is http: use https, or set BADBUZZ_WEBHOOK_ALLOW_HTTP="
                             f"{'loopback' if loopback else 'always'} to allow it")
    elif parts.scheme != "https":
        raise ValueError(f"webhook {shown}: only https (or explicitly allowed http) URLs can receive alerts")
    if allowed_hosts and not any(host == h.lower() or (h.startswith(".") and host.endswith(h.lower()))
                                 for h in allowed_hosts):
        raise ValueError(f"webhook host {host} is not in BADBUZZ_WEBHOOK_ALLOWED_HOSTS")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class WebhookChannel:
    """One endpoint: a signed POST of the Slack-compatible payload (``text`` + ``blocks``, full event under
    ``badbuzz``). A non-2xx answer or no answer raises, so the dispatcher retries (or gives up on answers
    that retrying cannot fix)."""

    def __init__(self, url: str, secret: bytes, *, timeout_s: float = 5.0, allow_http: HttpPolicy = "never",
                 allowed_hosts: tuple[str, ...] = ()) -> None:
        check_webhook_url(url, allow_http, allowed_hosts)
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        # one client per endpoint (its connections are reused; each channel has its own delivery job).
        # Redirects are not followed: an alert is never re-sent to a host that the settings did not name.
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    @property
    def destination(self) -> str:
        return self.url

    def render(self, event: AlertEvent) -> str:
        return json.dumps(slack_payload(event), ensure_ascii=False, sort_keys=True)

    def send(self, payload: str, key: str) -> None:
        body = payload.encode()
        status = self._client.post(self.url, content=body, headers={
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            SIGNATURE_HEADER: sign(self.secret, body, int(time.time())),
            "User-Agent": "badbuzz-webhooks/1",
        }).status_code
        if 300 <= status < 400:
            raise PermanentDeliveryError(f"HTTP {status}: redirects are not followed")
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            raise PermanentDeliveryError(f"HTTP {status}")
        if not 200 <= status < 300:
            raise WebhookRefused(f"HTTP {status}")


class WebhookRefused(Exception):
    """The endpoint answered, but not with a 2xx status (retried)."""
