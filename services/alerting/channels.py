"""Every alert channel behind one contract, delivered from the store's outbox by one dispatcher.

A channel (Redis, a webhook endpoint, the console, a JSON-lines file) names its outbox ``destination``,
``render``s an alert event into the payload it wants, and ``send``s one payload, raising when it cannot.
The alerter never calls a channel: it writes one outbox row per channel in the same transaction as the
alert (see store.py), and :class:`OutboxDispatcher` delivers the rows. So every channel gets the same
guarantees: an alert raised while a channel is down reaches it once the channel is back, in order, with
retries backing off 2, 4, 8, … seconds (capped at 30 s); detection never waits on a channel; and a
standby alerter delivers nothing (the dispatcher is active only on the leader).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from badbuzz.stream.alerting.event import AlertEvent

if TYPE_CHECKING:
    from badbuzz.services.alerting.store import AlertStore

log = logging.getLogger(__name__)


class AlertChannel(Protocol):
    """One delivery channel. ``send`` must be safe to repeat with the same ``key`` (at-least-once delivery:
    a reply lost after a successful send means a retry); channels that can, deduplicate on the key."""

    @property
    def destination(self) -> str:
        """The outbox destination this channel delivers (unique per channel, stable across restarts)."""
        ...

    def render(self, event: AlertEvent) -> str:
        """The payload stored in the outbox for ``event`` (what ``send`` will receive)."""
        ...

    def send(self, payload: str, key: str) -> None:
        """Deliver one payload; raise on failure (it is retried later)."""
        ...


class ConsoleChannel:
    """Prints each alert's one-line summary (the embedded mode's and the demo's channel)."""

    destination = "console"

    def __init__(self, write: Callable[[str], object] = print) -> None:
        self._write = write

    def render(self, event: AlertEvent) -> str:
        return event.summary()

    def send(self, payload: str, key: str) -> None:
        self._write(f"[badbuzz alert] {payload}")


class FileChannel:
    """Appends each alert event, as one JSON line, to a file (tail it, or feed it to another tool)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def destination(self) -> str:
        return f"file:{self.path}"

    def render(self, event: AlertEvent) -> str:
        return event.encode()

    def send(self, payload: str, key: str) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(payload + "\n")


def backoff(attempts: int, base_s: float = 2.0, cap_s: float = 30.0) -> timedelta:
    """Wait before the next try of a delivery that failed ``attempts + 1`` times (2, 4, 8, … s, capped)."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts)))


class OutboxDispatcher:
    """Delivers outbox rows to their channels, each channel's in order.

    When a channel fails, its remaining rows wait behind the failed one (a down channel would fail them the
    same way, and waiting keeps that channel's alerts in order); the other channels go on.
    """

    def __init__(self, store: AlertStore, channels: Sequence[AlertChannel], *,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        names = [c.destination for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"two alert channels share a destination: {sorted(names)}")
        self.store = store
        self.channels = {c.destination: c for c in channels}
        self._now = wall_clock

    def deliver_due(self) -> int:
        """One pass: each channel gets its undelivered rows in order, until one fails or is not yet due (a
        later row never overtakes an earlier one: "resolved" cannot arrive before its "firing")."""
        delivered = 0
        for destination, channel in self.channels.items():
            for outbox_id, payload, key, attempts, next_at in self.store.pending_for(destination):
                now = self._now()
                if next_at > now:
                    break  # backing off: the whole channel waits
                try:
                    channel.send(payload, key)
                except Exception as exc:  # any failure of a channel: keep the row, retry later
                    retry = backoff(attempts)
                    self.store.mark_failed(outbox_id, now, retry, f"{type(exc).__name__}: {exc}")
                    log.warning("alert delivery to %s failed (attempt %d, retry in %.0fs): %s",
                                redact(destination), attempts + 1, retry.total_seconds(), exc)
                    break
                self.store.mark_delivered(outbox_id, self._now())
                delivered += 1
        return delivered

    def start(self, active: Callable[[], bool] = lambda: True, poll_s: float = 0.5) -> threading.Thread:
        """Deliver in a daemon thread every ``poll_s`` seconds while ``active()`` (this alerter leads)."""

        def loop() -> None:
            while True:
                try:
                    if active():
                        self.deliver_due()
                except Exception as exc:  # the store itself is down: the rows wait there
                    log.error("alert dispatcher iteration failed (will retry): %s", exc)
                time.sleep(poll_s)

        thread = threading.Thread(target=loop, name="alert-dispatcher", daemon=True)
        thread.start()
        return thread


def redact(destination: str) -> str:
    """A destination fit for logs: a webhook URL without its path and query (which often hold a token)."""
    if destination.startswith(("http://", "https://")):
        scheme, _, rest = destination.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/…"
    return destination
