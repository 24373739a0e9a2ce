"""Alerts to Redis: a PUBLISH for live listeners, a stream entry for history, a hash of current state.

Publications come from the store's outbox (destination ``redis:alerts``), not straight from detection: an
alert that fires while Redis is down is published once Redis is back. A Lua script makes each publication
happen once: it records the event's idempotency key and skips events already published, so a retry after a
lost reply (or a second alerter) cannot add a second history entry. Every call has connect/read timeouts.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from badbuzz.services.alert_store import AlertStore
from badbuzz.services.outbox_loop import start_outbox_loop
from badbuzz.stream.alerts import AlertEvent

log = logging.getLogger(__name__)
CHANNEL = "badbuzz:alerts"
STREAM = "badbuzz:alerts:history"
CURRENT = "badbuzz:alerts:current"
SEEN = "badbuzz:alerts:published:"

_PUBLISH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[5]) then
  redis.call('PUBLISH', KEYS[2], ARGV[1])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'event', ARGV[1], 'topic', ARGV[2], 'state', ARGV[3])
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[1])
  return 1
end
return 0
"""


def redis_client(url: str, timeout_s: float = 3.0) -> Any:
    """A client that never hangs: connect and read timeouts, health checks on idle connections."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
                                health_check_interval=30, retry_on_timeout=False)


class RedisAlertPublisher:
    def __init__(self, store: AlertStore, client: Any, *, prefix: str = "", history_max: int = 100_000,
                 remember_days: int = 30, wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.client = client
        self.prefix = prefix
        self.history_max = history_max
        self.remember_s = remember_days * 86_400
        self._now = wall_clock
        self._script = client.register_script(_PUBLISH_ONCE)

    def publish(self, payload: str, topic: str, state: str, key: str) -> bool:
        """Publish one event unless it was published before; True when this call published it."""
        p = self.prefix
        keys = [p + SEEN + key, p + CHANNEL, p + STREAM, p + CURRENT]
        return bool(self._script(keys=keys, args=[payload, topic, state, self.history_max, self.remember_s]))

    def publish_due(self) -> int:
        """Publish every due outbox entry; a failure leaves it for a later retry (backoff capped at 30 s)."""
        done = 0
        for outbox_id, _, payload, key, attempts in self.store.due_deliveries(self._now(), redis=True):
            ev = json.loads(payload)
            try:
                self.publish(payload, ev["topic"], ev["state"], key)
            except Exception as exc:  # Redis down or slow: keep it in the outbox
                retry = timedelta(seconds=min(30.0, 2.0 * 2 ** attempts))
                self.store.mark_failed(outbox_id, self._now(), retry, f"{type(exc).__name__}: {exc}")
                log.warning("Redis publication failed (attempt %d, retry in %.0fs): %s", attempts + 1,
                            retry.total_seconds(), exc)
                break  # the rest would fail the same way; keep their order
            self.store.mark_delivered(outbox_id, self._now())
            done += 1
        return done

    def start(self, active: Callable[[], bool], poll_s: float = 0.5) -> threading.Thread:
        """Publish in the background while ``active()``: detection never waits on Redis."""
        return start_outbox_loop("redis-publisher", self.publish_due, active, poll_s)


class ConsoleAlertSink:
    """Embedded mode: print each alert; optionally append it to a JSON-lines file."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path

    def publish(self, events: Sequence[AlertEvent]) -> None:
        for ev in events:
            print(f"[badbuzz alert] {ev.summary()}")
            if self.path:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(ev.encode() + "\n")
