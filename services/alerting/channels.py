"""Every alert channel behind one contract, delivered from the store's outbox by one dispatcher.

A channel (Redis, a webhook endpoint, the console, a JSON-lines file) names its outbox ``destination``,
``render``s an alert event into the payload it wants, and ``send``s one payload, raising when it cannot.
The alerter never calls a channel: it writes one outbox row per channel in the same transaction as the
alert (see store.py), and :class:`OutboxDispatcher` delivers the rows. So every channel gets the same
guarantees: an alert raised while a channel is down reaches it once the channel is back, in order, with
retries backing off 2, 4, 8, … seconds (capped at 30 s); detection never waits on a channel; and a
standby alerter delivers nothing (the dispatcher is active only on the leader). Each send happens inside
the transaction that claims its row and checks the leader's term (store.claim), so two alerters that both
believe they lead never both send a row.

Retries are bounded: a delivery still failing ``give_up_after`` (default 24 h) after its alert, or refused
in a way retrying cannot fix (:class:`PermanentDeliveryError`), is marked failed, counted in
``badbuzz_alert_deliveries_total{outcome="failed"}`` and shown with its alert in the API. Each channel is
delivered by its own job of the alerter's scheduler (stream/periodic.py), so a slow or hanging endpoint
delays only itself. Delivered rows are purged after ``retention`` (default 7 days); the alerts themselves
stay in ``alerts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from badbuzz.stream.detection.event import AlertEvent
from badbuzz.stream.periodic import Scheduler

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


class PermanentDeliveryError(Exception):
    """The channel refused the delivery in a way that retrying cannot fix (e.g. a redirect, an HTTP 4xx)."""


def backoff(attempts: int, base_s: float = 2.0, cap_s: float = 30.0) -> timedelta:
    """Wait before the next try of a delivery that failed ``attempts + 1`` times (2, 4, 8, … s, capped)."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts)))


class OutboxDispatcher:
    """Delivers outbox rows to their channels, each channel's in order, each channel by its own scheduled job.

    When a channel fails, its remaining rows wait behind the failed one (a down channel would fail them the
    same way, and waiting keeps that channel's alerts in order); the other channels go on. A row that is
    given up on no longer holds the others back.
    """

    def __init__(self, store: AlertStore, channels: Sequence[AlertChannel], *,
                 give_up_after: timedelta = timedelta(hours=24), retention: timedelta = timedelta(days=7),
                 registry: CollectorRegistry | None = None,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 term: Callable[[], int | None] = lambda: None) -> None:
        names = [c.destination for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"two alert channels share a destination: {sorted(redact(n) for n in names)}")
        self.store = store
        self.channels = {c.destination: c for c in channels}
        self.give_up_after = give_up_after
        self.retention = retention
        self._now = wall_clock
        self._term = term  # the leadership term each delivery is fenced with (leadership.py)
        reg = registry if registry is not None else CollectorRegistry()
        self.outcomes = Counter("badbuzz_alert_deliveries", "Alert deliveries by channel and outcome "
                                "(delivered, retry, failed = given up)", ["channel", "outcome"], registry=reg)
        self.pending = Gauge("badbuzz_alert_deliveries_pending", "Alert deliveries waiting in the outbox",
                             registry=reg)
        self.pending.set_function(self._pending_or_nan)

    def _pending_or_nan(self) -> float:
        try:
            return float(self.store.pending_deliveries())
        except Exception:  # the store is down: say so rather than fail the scrape
            return float("nan")

    def deliver_due(self) -> int:
        """One pass over every channel (the threads of :meth:`start` each do this for one channel)."""
        return sum(self.deliver_channel(d) for d in self.channels)

    def deliver_channel(self, destination: str) -> int:
        """Deliver ``destination``'s due rows in order, until one fails or is not yet due (a later row never
        overtakes an earlier one: "resolved" cannot arrive before its "firing")."""
        channel = self.channels[destination]
        label = redact(destination)
        delivered = 0
        for outbox_id, payload, key, attempts, next_at, created in self.store.pending_for(destination):
            now = self._now()
            if next_at > now:
                break  # backing off: the whole channel waits
            with self.store.claim(outbox_id, self._term()) as claim:
                if claim is None:
                    break  # sent or being sent by another alerter, or this one is no longer the leader
                try:
                    channel.send(payload, key)
                except Exception as exc:  # any failure of a channel: keep the row, retry later or give up
                    permanent = isinstance(exc, PermanentDeliveryError)
                    give_up = permanent or now - created >= self.give_up_after
                    retry = backoff(attempts)
                    claim.failed(now, retry, f"{type(exc).__name__}: {exc}", give_up=give_up)
                    if give_up:
                        self.outcomes.labels(channel=label, outcome="failed").inc()
                        log.error("alert delivery to %s given up after %d attempt(s)%s: %s", label, attempts + 1,
                                  "" if permanent else f" and {now - created}", exc)
                        continue  # the next rows are not held behind one that will never go
                    self.outcomes.labels(channel=label, outcome="retry").inc()
                    log.warning("alert delivery to %s failed (attempt %d, retry in %.0fs): %s",
                                label, attempts + 1, retry.total_seconds(), exc)
                    break
                claim.delivered(self._now())
            self.outcomes.labels(channel=label, outcome="delivered").inc()
            delivered += 1
        return delivered

    def purge(self) -> int:
        """Delete rows delivered more than ``retention`` ago."""
        return self.store.purge_delivered(self._now() - self.retention)

    def schedule(self, scheduler: Scheduler, active: Callable[[], bool] = lambda: True, poll_s: float = 0.5,
                 purge_every_s: float = 3600.0) -> None:
        """Deliver every ``poll_s`` seconds while ``active()`` (this alerter leads), one job per channel, so a
        hanging endpoint (up to its timeout) holds back only its own alerts; purge delivered rows every
        ``purge_every_s``. A failing job (the store itself is down) is logged and retried: the rows wait."""
        for i, destination in enumerate(self.channels):
            scheduler.every(f"deliver-{i} {redact(destination)}", poll_s, partial(self.deliver_channel, destination),
                            active=active)
        scheduler.every("outbox-purge", purge_every_s, self._purge_and_log, active=active)

    def _purge_and_log(self) -> None:
        if n := self.purge():
            log.info("purged %d delivered alert deliveries older than %s", n, self.retention)


def redact(destination: str) -> str:
    """A destination fit for logs: a webhook URL without its path and query (which often hold a token)."""
    if destination.startswith(("http://", "https://")):
        scheme, _, rest = destination.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}/…"
    return destination
