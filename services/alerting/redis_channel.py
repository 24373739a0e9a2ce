"""Alerts to Redis: a PUBLISH for live listeners, a stream entry for history, a hash of current state.

Publications come from the store's outbox (destination ``redis:alerts``, delivered by channels.py's
dispatcher), not straight from detection: an alert that fires while Redis is down is published once Redis
is back. Events carry their example tweets' ids, not their texts (see ``render``). A Lua script makes each publication
happen once: it records the event's idempotency key and skips events already published, so a retry after a
lost reply (or a second alerter) cannot add a second history entry. Every call has connect/read timeouts.
"""

from __future__ import annotations

import json
from typing import Any

from badbuzz.stream.detection.event import AlertEvent

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


class RedisChannel:
    """Alerts to Redis through the outbox: PUBLISH, a history stream entry and the current-state hash, once."""

    destination = "redis:alerts"

    def __init__(self, client: Any, *, prefix: str = "", history_max: int = 100_000, remember_days: int = 30) -> None:
        self.client = client
        self.prefix = prefix
        self.history_max = history_max
        self.remember_s = remember_days * 86_400
        self._script = client.register_script(_PUBLISH_ONCE)

    def render(self, event: AlertEvent) -> str:
        """The event as JSON, its examples reduced to their ids and languages: a stream entry kept for months
        (and a hash no one trims) must hold no tweet text, so a deleted post or one past retention leaves no
        copy here (services/storage/personal_data.py). Listeners fetch texts from the API, which forgets them in
        time."""
        doc = event.to_json()
        doc["examples"] = [{k: v for k, v in e.items() if k in ("id", "lang")} for e in event.examples]
        return json.dumps(doc, ensure_ascii=False, sort_keys=True)

    def send(self, payload: str, key: str) -> None:
        self.publish(payload, key)

    def publish(self, payload: str, key: str) -> bool:
        """Publish one event unless it was published before; True when this call published it."""
        ev = json.loads(payload)
        p = self.prefix
        keys = [p + SEEN + key, p + CHANNEL, p + STREAM, p + CURRENT]
        return bool(self._script(keys=keys, args=[payload, ev["topic"], ev["state"], self.history_max,
                                                  self.remember_s]))
