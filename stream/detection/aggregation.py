"""Per-topic, per-minute aggregation in event time, with a watermark and an allowed lateness.

Pure logic: the store keeps the counts (incremented in the same transaction that stores the tweets, so a
replayed batch never counts twice); this module decides which minutes are *closed* — old enough that
late tweets are no longer expected — and therefore ready for the detector.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)


def minute_of(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return ts.replace(second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class MinuteCount:
    topic: str
    minute: datetime
    n: int
    n_negative: int

    @property
    def rate(self) -> float:
        return self.n_negative / self.n if self.n else 0.0


def increments(events: Iterable[tuple[Iterable[str], datetime, bool]]) -> list[MinuteCount]:
    """(topics, event time, is negative) per tweet → one count per (topic, minute)."""
    acc: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for topics, ts, negative in events:
        minute = minute_of(ts)
        for topic in topics:
            cell = acc[(topic, minute)]
            cell[0] += 1
            cell[1] += int(negative)
    return [MinuteCount(t, m, n, k) for (t, m), (n, k) in sorted(acc.items())]


@dataclass(frozen=True)
class Watermark:
    """Event-time progress: the newest event time seen, minus the allowed lateness.

    A minute ``[m, m+1)`` is closed once the watermark has passed ``m + 1 minute``; tweets for a closed
    minute that arrive later are still stored (dashboards stay exact) but no longer change a decision.
    """

    allowed_lateness: timedelta

    def closed_before(self, newest_event: datetime | None) -> datetime | None:
        """The first minute that is still open (every minute before it is closed)."""
        if newest_event is None:
            return None
        return minute_of(newest_event - self.allowed_lateness)
