"""What "usual" means for a topic: its negative share, and how many negative tweets this hour of the week.

- :class:`ShareBaseline`: an exponentially weighted negative share (half-life hours, not minutes), fed only
  by calm minutes, so an episode never becomes the new normal while it is being tested.
- :class:`VolumeBaseline`: the expected number of negative tweets per minute at this hour of this day of
  the week, learned from the topic's own history as an hour-of-day profile (each hour an exponentially
  weighted mean over past days) times a day-of-week factor (each weekday's level against the profile,
  weighted over past weeks). A product of two profiles rather than 168 separate hours: at 20 tweets an
  hour, one week holds one noisy count per hour of the week, while the profile pools every day. A new
  topic falls back to its recent level until it has one hour of each hour of the day (warm-up); a quiet
  night is compared with other nights, not with the afternoon. Over-dispersion (the negative binomial's
  ``1/size``) is estimated from how far real hours fall from their expectation.

Both are plain numbers in JSON: the detector's state survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

HOURS_PER_WEEK = 168
DISPERSION_PRIOR = 0.03  # 1/size: an hour's count varies ~17 % beyond Poisson (weekday news, events)
PRIOR_MASS = 25_000.0  # as much evidence as ten hours of 50 expected negatives
EVIDENCE_DECAY = 0.5 ** (1 / 3300)  # the profile's memory: about 3.3 days at a day weight of 0.3


def hour_of_week(minute: datetime) -> int:
    return minute.weekday() * 24 + minute.hour


@dataclass
class ShareBaseline:
    """Exponentially weighted (negatives, tweets), and hourly snapshots of it: tests compare with the value
    of ``lag_hours`` ago, so a story that grows slowly over hours is not learned as normal while it grows
    (calm-minute filtering alone lets the first, not yet significant, hours of a build-up in)."""

    k: float = 0.0
    n: float = 0.0
    snapshots: list[tuple[float, float]] = field(default_factory=list)  # (k, n) at the end of each hour
    seen: int = 0  # tweets ever learned from: the warm-up counts these, not the decayed mass

    def update(self, n: int, k: int, decay: float) -> None:
        self.k = self.k * decay + k
        self.n = self.n * decay + n
        self.seen += n

    def end_of_hour(self, lag_hours: int) -> None:
        self.snapshots.append((self.k, self.n))
        del self.snapshots[: max(0, len(self.snapshots) - lag_hours)]

    def lagged(self, lag_hours: int = 0) -> tuple[float, float]:
        """(negatives, tweets) as of ``lag_hours`` ago, or now while there is less history than that."""
        return self.snapshots[0] if lag_hours and len(self.snapshots) >= lag_hours else (self.k, self.n)

    def mass(self, lag_hours: int = 0) -> float:
        """How many (decayed) tweets the share used by :meth:`rate` rests on."""
        return self.lagged(lag_hours)[1]

    def rate(self, warmup_tweets: float, lag_hours: int = 0) -> float | None:
        k, n = self.lagged(lag_hours)
        return k / n if self.seen >= warmup_tweets and n > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "snapshots": [list(x) for x in self.snapshots], "seen": self.seen}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ShareBaseline:
        return cls(float(doc["k"]), float(doc["n"]), [(float(a), float(b)) for a, b in doc.get("snapshots", [])],
                   int(doc.get("seen", doc["n"])))


@dataclass
class VolumeBaseline:
    """Expected negatives per minute = hour-of-day profile x day-of-week factor; plus dispersion."""

    day: list[float | None] = field(default_factory=lambda: [None] * 24)  # negatives/minute, weekday-neutral
    day_seen: list[int] = field(default_factory=lambda: [0] * 24)
    weekday: list[float] = field(default_factory=lambda: [1.0] * 7)
    weekday_seen: list[int] = field(default_factory=lambda: [0] * 7)
    level: float | None = None
    inv_size: float = DISPERSION_PRIOR  # 1/size of the negative binomial, learned (see _close_hour)
    # dispersion as a ratio of weighted sums (sum (x - mu)^2 - mu over sum mu^2): busy hours weigh most, so
    # a handful of quiet hours with two tweets instead of one cannot inflate it
    disp_sq: float = 0.0
    disp_mu: float = 0.0
    disp_mu2: float = 0.0
    hour_negatives: int = 0  # the hour being accumulated
    hour_minutes: int = 0
    hour_clean: bool = True
    hour_start: str | None = None
    day_observed: float = 0.0  # today so far: clean hours as counted, others as expected
    day_expected: float = 0.0
    day_start: str | None = None
    minutes_seen: int = 0
    evidence: float = 0.0  # negatives the profile rests on (decayed like the profile itself)

    def uncertainty(self, minute: datetime) -> float:
        """Relative variance of the expected count itself: an hour of the day estimated from a few dozen
        tweets is a guess, and a test that takes a guess for a fact fires on its errors. ``evidence`` holds
        about 3.3 days of negatives over 24 hours of the day; each hour's estimate rests on about 5.7 days
        of its own hour (a day weight of 0.3), pooled with its neighbours (variance x 0.375): 5.5 / evidence.
        An hour of the day never seen yet (the first day, served by the recent level) is a rough guess
        whatever the volume (±50 %)."""
        fallback = 0.25 if self.day[minute.hour] is None else 0.0
        return fallback + 5.5 / max(1.0, self.evidence)

    def expected(self, minute: datetime) -> float | None:
        """Expected negatives in this minute, or None while the topic has less than an hour of history."""
        h = minute.hour
        d = self.day[h]
        if d is None:
            return self.level if self.minutes_seen >= 60 else None
        before, after = self.day[(h - 1) % 24], self.day[(h + 1) % 24]
        if before is not None and after is not None:  # neighbouring hours pool the noise of quiet topics
            d = 0.25 * before + 0.5 * d + 0.25 * after
        return d * self.weekday[minute.weekday()]

    def observe(self, minute: datetime, n_negative: int, clean: bool, *, day_weight: float, week_weight: float,
                level_decay: float, dispersion_weight: float, min_inv_size: float, max_inv_size: float) -> None:
        """Add one minute. ``clean``: the minute was not part of a suspected or confirmed episode; an hour
        with any unclean minute teaches nothing about the usual."""
        day = minute.date().isoformat()
        if self.day_start != day:
            self._close_day(week_weight)
            self.day_start, self.day_observed, self.day_expected = day, 0.0, 0.0
        start = minute.replace(minute=0).isoformat()
        if self.hour_start != start:
            self.hour_start, self.hour_negatives, self.hour_minutes, self.hour_clean = start, 0, 0, True
        self.hour_negatives += n_negative
        self.hour_minutes += 1
        self.hour_clean = self.hour_clean and clean
        self.minutes_seen += 1
        if clean:
            self.level = n_negative if self.level is None else self.level * level_decay + n_negative * (1 - level_decay)
            self.evidence = self.evidence * EVIDENCE_DECAY + n_negative
        if minute.minute == 59:
            self._close_hour(minute, day_weight, dispersion_weight, min_inv_size, max_inv_size)

    def _close_hour(self, minute: datetime, day_weight: float, dispersion_weight: float, min_inv_size: float,
                    max_inv_size: float) -> None:
        before = self.expected(minute)
        if self.hour_minutes < 60:  # the topic started mid-hour: not a full hour to learn from
            return
        x = self.hour_negatives
        h = minute.hour
        if before is not None and self.day[h] is not None:
            # A suspicious hour still teaches the profile, clipped to 2 sd above the expectation: excluding
            # it outright lets a profile that started low (a first day, a growing brand) stay low for ever,
            # firing every morning; clipping lets it catch up by steps an episode cannot exploit.
            sd = (before * 60 * (1 + min(self.inv_size, 0.05) * before * 60)) ** 0.5
            x = min(x, round(before * 60 + (4.0 if self.hour_clean else 2.0) * sd + 1))
        if before is not None:
            self.day_expected += before * 60
            self.day_observed += x
        if before is not None and self.hour_clean and min(self.day_seen) >= 2:  # against a profile, not a guess
            mu = before * 60
            keep = 1 - dispersion_weight
            # winsorised at 2.5 sd of a moderately dispersed model: an episode the detector missed must not teach it
            # that such hours are normal (which would hide the next one)
            limit = 2.5 * (mu * (1 + min(self.inv_size, 0.05) * mu)) ** 0.5 + 1.0
            self.disp_sq = keep * self.disp_sq + min(abs(x - mu), limit) ** 2
            self.disp_mu = keep * self.disp_mu + mu
            self.disp_mu2 = keep * self.disp_mu2 + mu * mu
            # shrunk towards a prior (DISPERSION_PRIOR, worth PRIOR_MASS in sum of mu^2): a quiet topic's
            # hours say little about dispersion (their Poisson noise swamps it), a busy topic's say a lot
            raw = ((self.disp_sq - self.disp_mu + PRIOR_MASS * DISPERSION_PRIOR) / (self.disp_mu2 + PRIOR_MASS))
            self.inv_size = min(max_inv_size, max(min_inv_size, raw))
        neutral = x / 60.0 / self.weekday[minute.weekday()]
        old = self.day[h]
        self.day_seen[h] += 1
        weight = max(day_weight, 1.0 / self.day_seen[h])  # a plain mean of the first days, then weighted
        self.day[h] = neutral if old is None else (1 - weight) * old + weight * neutral

    def _close_day(self, week_weight: float) -> None:
        if self.day_start is None or self.day_expected < 20:  # too little to say how this weekday differs
            return
        wd = datetime.fromisoformat(self.day_start).weekday()
        ratio = self.weekday[wd] * self.day_observed / self.day_expected
        self.weekday_seen[wd] += 1
        weight = max(week_weight, 1.0 / self.weekday_seen[wd])
        self.weekday[wd] = min(5.0, max(0.2, (1 - weight) * self.weekday[wd] + weight * ratio))

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> VolumeBaseline:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})
