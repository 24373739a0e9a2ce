"""``badbuzz ingest x``: the X API v2 filtered stream to ``tweets.raw``.

Rules are synchronised first (stream/sources/x.py ``rule_changes``), then the stream is read line by line
with the keep-alive in mind: an empty line is a heartbeat, silence for 90 s means a dead connection. Every
disconnection is retried with the backoff X documents (network / HTTP error / 429 with its reset time).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from badbuzz.stream.errors import BadBuzzError
from badbuzz.stream.sources.sink import RawSink
from badbuzz.stream.sources.x import STALL_S, STREAM_FIELDS, Backoff, map_tweet, rule_changes

log = logging.getLogger(__name__)
DEFAULT_API = "https://api.x.com"


class XAccessRefused(BadBuzzError):
    """401/403: retrying cannot help, the token or the app's access level must change."""


class XApi:
    def __init__(self, base: str, bearer_token: str, *, timeout_s: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self._token = bearer_token
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None,
                 timeout_s: float | None = None) -> Any:
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
            "User-Agent": "badbuzz-ingest/1"})
        return urllib.request.urlopen(req, timeout=timeout_s or self.timeout_s)

    def rules(self) -> list[dict[str, Any]]:
        with self._request("GET", "/2/tweets/search/stream/rules") as resp:
            return list(json.loads(resp.read()).get("data") or [])

    def sync_rules(self, wanted: Sequence[str | tuple[str, str]]) -> tuple[int, int]:
        """Make our rules exactly ``wanted``; returns (added, deleted). Running it twice changes nothing."""
        add, delete = rule_changes(self.rules(), wanted)
        if delete:
            with self._request("POST", "/2/tweets/search/stream/rules", {"delete": {"ids": delete}}):
                pass
        if add:
            with self._request("POST", "/2/tweets/search/stream/rules", {"add": add}) as resp:
                errors = json.loads(resp.read()).get("errors")
                if errors:
                    raise ValueError(f"X refused a rule: {errors[0].get('title')}: {errors[0].get('detail', '')}")
        return len(add), len(delete)

    def stream(self) -> Any:
        return self._request("GET", "/2/tweets/search/stream", query=STREAM_FIELDS, timeout_s=STALL_S)


def run_x(api: XApi, rules: Sequence[str | tuple[str, str]], sink: RawSink, *, stop: Callable[[], bool] = lambda: False,
          sleep: Callable[[float], None] = time.sleep, backoff: Backoff | None = None) -> None:
    """Follow the filtered stream until ``stop()``."""
    added, deleted = api.sync_rules(rules)
    log.info("x: rules in place (%d added, %d deleted)", added, deleted)
    policy = backoff or Backoff()
    first = True
    while not stop():
        if not first:
            sink.metrics.reconnects.inc()
        first = False
        try:
            with api.stream() as resp:
                log.info("x: stream connected")
                for raw in resp:  # lines; a bare "\r\n" every 20 s is X's keep-alive
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
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                reset = exc.headers.get("x-rate-limit-reset")
                wait = policy.next("rate_limited", now=time.time(), reset_at=float(reset) if reset else None)
            elif exc.code in (401, 403):
                raise XAccessRefused(f"X refused the bearer token or the app's access (HTTP {exc.code}): check "
                                     "BADBUZZ_X_BEARER_TOKEN and the app's filtered-stream access") from None
            else:
                wait = policy.next("http")
            log.warning("x: HTTP %d; reconnecting in %.1f s", exc.code, wait)
        except OSError as exc:  # refused, reset, timed out (silent for 90 s): a network failure
            wait = policy.next("network")
            log.warning("x: connection lost (%s); reconnecting in %.2f s", exc, wait)
        sink.flush()
        sleep(wait)
    sink.flush()
