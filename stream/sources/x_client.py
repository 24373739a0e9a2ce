"""``badbuzz ingest x``: the X API v2 filtered stream to ``tweets.raw``.

Rules are synchronised first (stream/sources/x.py ``rule_changes``), then the stream is read line by line
with the keep-alive in mind: an empty line is a heartbeat, silence for 90 s means a dead connection. Every
disconnection is retried with the backoff X documents (network / HTTP error / 429 with its reset time).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from badbuzz.stream.errors import BadBuzzError
from badbuzz.stream.sources.sink import RawSink
from badbuzz.stream.sources.x import STALL_S, STREAM_FIELDS, Backoff, map_tweet, rule_changes

log = logging.getLogger(__name__)
DEFAULT_API = "https://api.x.com"


class XAccessRefused(BadBuzzError):
    """401/403: retrying cannot help, the token or the app's access level must change."""


class XApi:
    """The filtered stream's REST calls on one pooled httpx client (keep-alive across rule calls)."""

    def __init__(self, base: str, bearer_token: str, *, timeout_s: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.timeout_s = timeout_s
        self._client = httpx.Client(base_url=self.base, timeout=timeout_s, follow_redirects=False, headers={
            "Authorization": f"Bearer {bearer_token}", "User-Agent": "badbuzz-ingest/1"})

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self._client.request(method, path, json=body)
        resp.raise_for_status()
        return resp.json()

    def rules(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/2/tweets/search/stream/rules").get("data") or [])

    def sync_rules(self, wanted: Sequence[str | tuple[str, str]]) -> tuple[int, int]:
        """Make our rules exactly ``wanted``; returns (added, deleted). Running it twice changes nothing."""
        add, delete = rule_changes(self.rules(), wanted)
        if delete:
            self._call("POST", "/2/tweets/search/stream/rules", {"delete": {"ids": delete}})
        if add:
            errors = self._call("POST", "/2/tweets/search/stream/rules", {"add": add}).get("errors")
            if errors:
                raise ValueError(f"X refused a rule: {errors[0].get('title')}: {errors[0].get('detail', '')}")
        return len(add), len(delete)

    @contextmanager
    def stream(self) -> Iterator[Iterator[str]]:
        """The stream's lines; silence for ``STALL_S`` (X sends a keep-alive every 20 s) is a read timeout."""
        timeout = httpx.Timeout(self.timeout_s, read=STALL_S)
        with self._client.stream("GET", "/2/tweets/search/stream", params=STREAM_FIELDS, timeout=timeout) as resp:
            resp.raise_for_status()
            yield resp.iter_lines()


def run_x(api: XApi, rules: Sequence[str | tuple[str, str]], sink: RawSink, *, stop: Callable[[], bool] = lambda: False,
          sleep: Callable[[float], None] = time.sleep, backoff: Backoff | None = None) -> None:
    """Follow the filtered stream until ``stop()``."""
    try:
        added, deleted = api.sync_rules(rules)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code in (401, 403):
            raise _refused(exc.response.status_code) from None
        raise
    log.info("x: rules in place (%d added, %d deleted)", added, deleted)
    policy = backoff or Backoff()
    first = True
    while not stop():
        if not first:
            sink.metrics.reconnects.inc()
        first = False
        try:
            with api.stream() as lines:
                log.info("x: stream connected")
                for raw in lines:  # a bare "\r\n" every 20 s is X's keep-alive
                    sink.seen()
                    line = raw.strip()
                    if not line:
                        continue
                    policy.reset()
                    try:
                        tweet = map_tweet(json.loads(line))
                    except (ValueError, TypeError) as exc:
                        log.warning("x: skipping a malformed payload: %s", exc)
                        continue
                    if tweet is not None and (reason := sink.put(tweet)):
                        log.warning("x: %s refused: %s", tweet.id, reason)
                    if stop():
                        break
            if stop():
                break
            wait = policy.next("network")  # the server closed the stream: reconnect like after a network error
        except httpx.HTTPStatusError as exc:
            code = exc.response.status_code
            if code == 429:
                reset = exc.response.headers.get("x-rate-limit-reset")
                wait = policy.next("rate_limited", now=time.time(), reset_at=float(reset) if reset else None)
            elif code in (401, 403):
                raise _refused(code) from None
            else:
                wait = policy.next("http")
            log.warning("x: HTTP %d; reconnecting in %.1f s", code, wait)
        except (httpx.TransportError, OSError) as exc:  # refused, reset, silent for 90 s: a network failure
            wait = policy.next("network")
            log.warning("x: connection lost (%s); reconnecting in %.2f s", exc, wait)
        sink.flush()
        sleep(wait)
    sink.flush()


def _refused(code: int) -> XAccessRefused:
    return XAccessRefused(f"X refused the bearer token or the app's access (HTTP {code}): check "
                          "BADBUZZ_X_BEARER_TOKEN and the app's filtered-stream access")
