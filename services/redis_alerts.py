"""Alerts to Redis: a PUBLISH for live listeners, a stream entry for history, a hash of current state.

All three in one pipelined round trip per batch of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from badbuzz.stream.alerts import AlertEvent

CHANNEL = "badbuzz:alerts"
STREAM = "badbuzz:alerts:history"
CURRENT = "badbuzz:alerts:current"


class RedisAlertSink:
    def __init__(self, client: Any, *, prefix: str = "", history_max: int = 100_000) -> None:
        self.client = client
        self.channel = prefix + CHANNEL
        self.stream = prefix + STREAM
        self.current = prefix + CURRENT
        self.history_max = history_max

    def publish(self, events: Sequence[AlertEvent]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for ev in events:
            body = ev.encode()
            pipe.publish(self.channel, body)
            pipe.xadd(self.stream, {"event": body, "topic": ev.topic, "state": ev.state},
                      maxlen=self.history_max, approximate=True)
            pipe.hset(self.current, ev.topic, body)
        pipe.execute()


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
