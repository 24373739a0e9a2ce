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

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

HOURS_PER_WEEK = 168
# 1/size: an hour's count varies ~40 % beyond Poisson (news, events), as measured on real brand weeks (a gamma
# hour level of shape 6 reproduces their 7-44x days and their jumps: docs/alerting-calibration.md)
DISPERSION_PRIOR = 0.15
UNSEEN_HOUR_VARIANCE = 0.6  # relative variance of an hour of the day never seen, without a borrowed day shape
PRIOR_MASS = 2_500.0  # as much evidence as a day of a topic with 10 expected negatives an hour
PRIOR_HOURS = 12.0
SHARE_PHI_PRIOR = 1.8  # an hour's negative share varies 1.5-2.3x the binomial on real brand weeks
SHARE_PHI_PRIOR_HOURS = 48.0  # the prior is worth two days of hours
SHARE_PHI_DECAY = 0.99  # about four days of hours
SHARE_PHI_CAP = 12.0  # one hour's Pearson residual counts at most this much (a missed episode must not teach)
EVIDENCE_DECAY = 0.5 ** (1 / 3300)  # the profile's memory: about 3.3 days at a day weight of 0.3


def hour_of_week(minute: datetime) -> int:
    return minute.weekday() * 24 + minute.hour


def _pooled(per_hour: list[float], hour: int) -> float:
    """An hour of the day's value pooled with its neighbours at 0.25 / 0.5 / 0.25."""
    return 0.25 * per_hour[(hour - 1) % 24] + 0.5 * per_hour[hour] + 0.25 * per_hour[(hour + 1) % 24]


@dataclass
class ShareBaseline:
    """Exponentially weighted (negatives, tweets), and hourly snapshots of it: tests compare with the value
    of ``lag_hours`` ago, so a story that grows slowly over hours is not learned as normal while it grows
    (calm-minute filtering alone lets the first, not yet significant, hours of a build-up in)."""

    k: float = 0.0
    n: float = 0.0
    snapshots: list[tuple[float, float]] = field(default_factory=list)  # (k, n) at the end of each hour
    seen: int = 0  # tweets ever learned from: the warm-up counts these, not the decayed mass
    # each hour of the day's share against the (lagged) usual, in log-odds: nights can be angrier than
    # afternoons, and at a thousand tweets an hour that daily swing is many standard errors (learned only
    # from hours with enough tweets to say it, shrunk by their volume)
    hour_logit: list[float] = field(default_factory=lambda: [0.0] * 24)
    # how much of each hour's true offset is still unknown, as a fraction of its variance: 1 before the hour
    # has been learned at all, times (1 - w)^2 for each day learned at weight w. A topic that has learned its
    # night but not its morning must not take the morning's usual rise for a bad buzz (cold start at 20,000
    # tweets an hour: 47 of 49 false alerts were morning share tests; docs/alerting.md)
    hour_unknown: list[float] = field(default_factory=lambda: [1.0] * 24)

    def update(self, n: float, k: float, decay: float, seen: int | None = None) -> None:
        """Learn ``k`` negatives of ``n`` tweets (possibly scaled down); ``seen``: the tweets really seen."""
        self.k = self.k * decay + k
        self.n = self.n * decay + n
        self.seen += round(n) if seen is None else seen

    def end_of_hour(self, lag_hours: int) -> None:
        self.snapshots.append((self.k, self.n))
        del self.snapshots[: max(0, len(self.snapshots) - lag_hours)]

    def lagged(self, lag_hours: int = 0, min_mass: float = 0.0) -> tuple[float, float]:
        """(negatives, tweets) as of ``lag_hours`` ago, or now while there is less history than that, or
        while the share of then rests on fewer than ``min_mass`` tweets and under a quarter of today's.

        Why the second fallback: a stream that starts a minute before the hour ends that hour with a snapshot
        of one minute's tweets, and three hours later it would become the baseline: a usual share known from
        30 tweets, against which nothing is significant. The demo missed its episode whenever it was started
        in the last minute of an hour (a test replays that alignment). The same held, less starkly, for a
        first hour of 26 minutes: 260 tweets at 10 a minute, against the 1,600 of today, and a 10-minute
        baggage wave at 40 a minute stayed quiet on its topics in a quarter of the start minutes (the deployment
        test, run at 00:27, missed it); hence the detector's ``share_lag_min_tweets``, 1,000 rather than the
        warm-up's 200. A quiet topic's snapshots are all small,
        and comparable with its present (a quarter or more): those are kept, since the lag is what lets a slow
        build-up show (without that clause, recall at 200 tweets/h on a 75 % brand fell from 84 to 79 %)."""
        if (lag_hours and len(self.snapshots) >= lag_hours
                and self.snapshots[0][1] >= min(min_mass, self.n / 4)):
            return self.snapshots[0]
        return (self.k, self.n)

    def mass(self, lag_hours: int = 0, min_mass: float = 0.0) -> float:
        """How many (decayed) tweets the share used by :meth:`rate` rests on."""
        return self.lagged(lag_hours, min_mass)[1]

    def rate(self, warmup_tweets: float, lag_hours: int = 0, min_mass: float = 0.0) -> float | None:
        """The usual share, once ``warmup_tweets`` have been seen; ``lag_hours`` and ``min_mass`` as in
        :meth:`lagged`."""
        k, n = self.lagged(lag_hours, min_mass)
        return k / n if self.seen >= warmup_tweets and n > 0 else None

    def offset(self, hour: int) -> float:
        """This hour of the day's log-odds against the usual, pooled with its neighbours."""
        return _pooled(self.hour_logit, hour)

    def at_hour(self, rate: float | None, hour: int) -> float | None:
        """The usual share at this hour of the day."""
        if rate is None or not 0 < rate < 1:
            return rate
        logit = math.log(rate / (1 - rate)) + self.offset(hour)
        return 1 / (1 + math.exp(-logit))

    def learn_hour(self, hour: int, n: float, k: float, rate: float | None, weight: float = 0.25,
                   half_weight_tweets: float = 100.0, max_step: float = 0.5) -> None:
        """Learn how this hour of the day differs from ``rate`` (the usual it was tested against)."""
        if rate is None or not 0 < rate < 1 or n < 10:
            return
        share = (k + 0.5) / (n + 1.0)
        d = math.log(share / (1 - share)) - math.log(rate / (1 - rate))
        w = weight * n / (n + half_weight_tweets)
        # one day moves an hour by at most ``max_step`` logits before weighting: an odd night (a spike of
        # mentions the detector did not see as one) must not make every later night look angry or calm
        self.hour_logit[hour] += w * max(-max_step, min(max_step, d - self.hour_logit[hour]))
        self.hour_unknown[hour] *= (1.0 - w) ** 2

    def unknown(self, hour: int) -> float:
        """The unknown fraction of :meth:`offset`'s variance at this hour (pooled with its neighbours alike: a
        daily swing is smooth, so the three hours' errors move together)."""
        return _pooled(self.hour_unknown, hour)

    def to_json(self) -> dict[str, Any]:
        return {"k": self.k, "n": self.n, "snapshots": [list(x) for x in self.snapshots], "seen": self.seen,
                "hour_logit": self.hour_logit, "hour_unknown": self.hour_unknown}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ShareBaseline:
        return cls(float(doc["k"]), float(doc["n"]), [(float(a), float(b)) for a, b in doc.get("snapshots", [])],
                   int(doc.get("seen", doc["n"])), [float(x) for x in doc.get("hour_logit", [0.0] * 24)],
                   # a state saved before this field existed has been learning its hours all along
                   [float(x) for x in doc.get("hour_unknown", [0.0] * 24)])


@dataclass
class ShareDispersion:
    """φ: how much more an hour's negative share varies than the binomial at its volume (quasi-binomial).

    Real brand hours are not coin flips: a thread, a news story or an hour of replies moves the share more
    than the binomial allows (1.5-2.3x on the real airline week of issue 28), and a test that takes the
    binomial for the truth fires on that. φ is the weighted mean over past hours of the Pearson residual
    ``(k - n p)^2 / (n p (1 - p))`` against the share the detector used, each capped (an episode the detector
    did not catch must not teach it that such hours are normal), shrunk to a field prior while the topic has
    few hours. Hours during an alert are left out; suspect hours are kept (leaving out every hour that looked
    high would cut the tail and make φ too small)."""

    hour_n: float = 0.0
    hour_k: float = 0.0
    hour_alert: bool = False
    # the hour's minutes outside alerts and mention spikes: they teach the hour-of-day share. Suspect minutes
    # count: a topic whose afternoons are angrier than its mornings looks suspect every afternoon until it
    # has learned so, and leaving them out would keep it from ever learning (and page every afternoon)
    usual_n: float = 0.0
    usual_k: float = 0.0
    # minutes of the hour, and their learning weights summed (a minute far below the usual teaches little)
    usual_minutes: float = 0.0
    usual_weight: float = 0.0
    residuals: float = 0.0
    hours: float = 0.0
    prior: float = SHARE_PHI_PRIOR

    @property
    def phi(self) -> float:
        w = SHARE_PHI_PRIOR_HOURS
        return max(1.0, (self.residuals + w * self.prior) / (self.hours + w))

    def add(self, n: int, k: int, alerting: bool, mention: bool = False, weight: float = 1.0) -> None:
        self.hour_n += n
        self.hour_k += k
        self.hour_alert = self.hour_alert or alerting
        if not alerting and not mention:
            self.usual_n += n
            self.usual_k += k
            self.usual_minutes += 1
            self.usual_weight += weight

    @property
    def usual_trust(self) -> float:
        """How much this hour's usual minutes may teach the hour of the day (their mean learning weight)."""
        return self.usual_weight / self.usual_minutes if self.usual_minutes else 0.0

    def end_of_hour(self, share: float | None, min_tweets: int = 5) -> None:
        n, k = self.hour_n, self.hour_k
        if share is not None and 0 < share < 1 and n >= min_tweets and not self.hour_alert:
            # only hours above the share count, twice: the tests look at the upper tail, and hours below it
            # (a campaign, a wave of praise) would inflate φ and blunt every test
            r = 2.0 * min(SHARE_PHI_CAP, (k - n * share) ** 2 / (n * share * (1 - share))) if k > n * share else 0.0
            self.residuals = self.residuals * SHARE_PHI_DECAY + r
            self.hours = self.hours * SHARE_PHI_DECAY + 1.0
        self.hour_n = self.hour_k = 0
        self.hour_alert = False
        self.usual_n = self.usual_k = self.usual_minutes = self.usual_weight = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> ShareDispersion:
        return cls(**{k: v for k, v in (doc or {}).items() if k in cls.__dataclass_fields__})


def _profile_variance(days: int, day_weight: float = 0.3) -> float:
    """Variance of an hour of the day's profile after ``days`` days, in units of one day's variance: a plain
    mean of the first days (1/k), then an exponentially weighted one (``_close_hour``'s update), which
    settles at w / (2 - w)."""
    v = 0.0
    for k in range(1, min(days, 60) + 1):
        w = max(day_weight, 1.0 / k)
        v = (1 - w) ** 2 * v + w * w
    return v


def _pooled_hours(hours: float) -> float:
    """Relative variance of a window's expected count over ``hours`` consecutive hours when each hour of the day
    is its own estimate (variance 1) pooled with its neighbours at 0.25 / 0.5 / 0.25: the window's weights on the
    hours' estimates, squared and summed, over the window's length squared. One hour or less: 0.375; m hours:
    (m - 0.75) / m^2 (a twelve-hour window averages most of the profile's errors away)."""
    m = max(1.0, hours)
    return 0.375 if m < 2 else (m - 0.75) / (m * m)


# the young part of it, by days seen (the detector asks for every volume window of every topic every minute:
# a lookup, not the recursion); from 60 days on the profile is settled
_YOUNG_PROFILE_VARIANCE = tuple(max(0.0, _profile_variance(d) - _profile_variance(60)) if d else 0.0
                                for d in range(61))


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
    disp_hours: float = 0.0  # hours the three sums rest on (decayed alike)
    hour_negatives: int = 0  # the hour being accumulated
    hour_minutes: int = 0
    hour_clean: bool = True
    hour_start: str | None = None
    day_observed: float = 0.0  # today so far: clean hours as counted, others as expected
    day_expected: float = 0.0
    day_start: str | None = None
    minutes_seen: int = 0
    evidence: float = 0.0  # negatives the profile rests on (decayed like the profile itself)
    # borrowed from the deployment's other topics (TopicPrior): the shape of their day (mean 1), and the
    # recent level divided by it, so a new topic's first hours are compared with the right hour of the day
    prior_shape: list[float] | None = None
    shaped_negatives: float = 0.0  # clean minutes' negatives, decayed like ``level``
    shaped_weight: float = 0.0  # ... and the borrowed shape over the same minutes

    @property
    def shaped_level(self) -> float | None:
        """Negatives a minute at a shape of 1: a ratio of two decayed sums (negatives over the shape's expectation
        of them), not an average of each minute's ratio: at 20 tweets an hour a night minute's one negative over
        a shape of 0.05 counted as twenty, and the first minute weighed as much as all those that followed."""
        return self.shaped_negatives / max(self.shaped_weight, 0.05) if self.shaped_weight > 0 else None

    def uncertainty(self, minute: datetime, hours: float = 1.0) -> float:
        """Relative variance of the expected count itself: an hour of the day estimated from a few days is a
        guess, and a test that takes a guess for a fact fires on its errors. Two parts:

        - counting noise: ``evidence`` holds about 3.3 days of negatives over 24 hours of the day; each hour's
          estimate rests on about 5.7 days of its own hour (a day weight of 0.3), pooled with its neighbours
          (variance x 0.375): 5.5 / evidence;
        - the days it was learned from: each day's hour has a level of its own (``inv_size``, ±40 % on real
          brands), so an hour of the day seen on one day is that day's level, whatever the volume. The
          profile's mean over its days carries ``inv_size`` times :func:`_profile_variance` of one day's,
          pooled with the neighbours alike, and a window of ``hours`` hours sums several hours' errors, which
          partly cancel (:func:`_pooled_hours`). Only what a young profile has beyond a settled one counts
          here: the false-alarm budget was set on mature topics, whose measured false alerts already hold a
          settled profile's error (adding it all cost 10 of 556 target episodes at 20 and 200 tweets an hour
          for no false alert that needed removing). Without this part a busy topic's first days fired on
          hours twice their single-day estimate (cold start at 2,000 tweets an hour: 1.8–2.7 false alerts a
          week; docs/alerting.md): the counting noise alone called a one-day profile exact.

        An hour of the day never seen yet (the first day, served by the recent level) is a rough guess
        whatever the volume: ±77 % (a relative variance of 0.6) alone, ±32 % with a borrowed day shape. Real brand
        days run 7-44 times busier at their peak than at night, and a topic started at night meets its first
        morning with the night's level: at 0.25 (±50 %) a cold start at 2,000 tweets an hour paged 1.1-1.3 times a
        week on the morning's rise (2- and 5-minute volume windows at 6x the night's level)."""
        seen = self.day_seen[minute.hour]
        fallback = (0.1 if self.prior_shape else UNSEEN_HOUR_VARIANCE) if self.day[minute.hour] is None else 0.0
        days = self.inv_size * _YOUNG_PROFILE_VARIANCE[min(seen, 60)] * _pooled_hours(hours)
        return fallback + days + 5.5 / max(1.0, self.evidence)

    def expected(self, minute: datetime) -> float | None:
        """Expected negatives in this minute, or None while the topic has less than an hour of history."""
        h = minute.hour
        d = self.day[h]
        if d is None:
            if self.minutes_seen < 60:
                return None
            if self.prior_shape is not None and self.shaped_level is not None:
                return self.shaped_level * self.prior_shape[h]
            return self.level
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
            if self.prior_shape is not None:  # see shaped_level
                self.shaped_negatives = self.shaped_negatives * level_decay + n_negative
                self.shaped_weight = self.shaped_weight * level_decay + self.prior_shape[minute.hour]
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
            sd = (before * 60 * (1 + self.inv_size * before * 60)) ** 0.5
            x = min(x, round(before * 60 + (4.0 if self.hour_clean else 2.0) * sd + 1))
        if before is not None:
            self.day_expected += before * 60
            self.day_observed += x
        if before is not None and self.hour_clean and min(self.day_seen) >= 2:  # against a profile, not a guess
            mu = before * 60
            keep = 1 - dispersion_weight
            # winsorised at 2.5 sd of a moderately dispersed model: an episode the detector missed must not teach it
            # that such hours are normal (which would hide the next one)
            limit = 3.0 * (mu * (1 + self.inv_size * mu)) ** 0.5 + 1.0
            self.disp_sq = keep * self.disp_sq + min(abs(x - mu), limit) ** 2
            self.disp_mu = keep * self.disp_mu + mu
            self.disp_mu2 = keep * self.disp_mu2 + mu * mu
            self.disp_hours = keep * self.disp_hours + 1.0
            # shrunk towards a prior (DISPERSION_PRIOR, worth PRIOR_MASS in sum of mu^2): a quiet topic's
            # hours say little about dispersion (their Poisson noise swamps it), a busy topic's say a lot
            # ... and worth at least PRIOR_HOURS of the topic's own typical hours: a busy topic's first hours
            # would otherwise decide it alone (one calm hour at 900 negatives set it to the floor, and the
            # next ordinary hour paged)
            mass = max(PRIOR_MASS, PRIOR_HOURS * self.disp_mu2 / max(self.disp_hours, 1.0))
            raw = (self.disp_sq - self.disp_mu + mass * DISPERSION_PRIOR) / (self.disp_mu2 + mass)
            self.inv_size = min(max_inv_size, max(min_inv_size, raw))
        neutral = x / 60.0 / self.weekday[minute.weekday()]
        old = self.day[h]
        self.day_seen[h] += 1
        weight = max(day_weight, 1.0 / self.day_seen[h])  # a plain mean of the first days, then weighted
        self.day[h] = neutral if old is None else (1 - weight) * old + weight * neutral

    def _close_day(self, week_weight: float) -> None:
        # too little to say how this weekday differs, or no day profile yet to differ from (the first day's
        # expectations are the recent level's guesses: a weekday factor learned from them is noise)
        if self.day_start is None or self.day_expected < 20 or min(self.day_seen) < 2:
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


@dataclass(frozen=True)
class TopicPrior:
    """What a new topic borrows from the deployment's other topics until its own history suffices.

    A topic added on Monday morning has no idea that its nights are fifteen times quieter than its
    afternoons, nor how much its share swings from hour to hour: without that, its first day either fires on
    every morning rise or is too deaf to fire at all. Every topic of one brand shares its customers' day, so
    the pooled day shape (each hour of the day against the day's mean), the volume over-dispersion and the
    share's φ of the mature topics stand in for its own until it has seen each hour of the day twice. Its
    usual *share* is not borrowed (a "baggage" topic is not as negative as the brand), but the share's daily
    swing is (``share_hours``, log-odds per hour of the day): a busy new topic learns its share overnight and
    would take the morning's rise, the same customers' mood in every topic, for a bad buzz."""

    topics: int
    day_shape: tuple[float, ...]
    inv_size: float
    phi: float
    share_hours: tuple[float, ...] | None = None

    @classmethod
    def pool(cls, volumes: list[VolumeBaseline], phis: list[float],
             share_hours: list[list[float]] | None = None) -> TopicPrior | None:
        """The prior of the mature topics among these (every hour of the day seen at least twice), or None."""
        shapes, invs, kept_phis, swings = [], [], [], []
        hours = share_hours if share_hours is not None else [None] * len(volumes)
        for vol, phi, swing in zip(volumes, phis, hours, strict=True):
            if min(vol.day_seen) < 2 or any(d is None for d in vol.day):
                continue
            day = [float(d) for d in vol.day if d is not None]
            mean = sum(day) / 24
            if mean <= 0:
                continue
            shapes.append([d / mean for d in day])
            invs.append(vol.inv_size)
            kept_phis.append(phi)
            if swing is not None:
                swings.append(swing)
        if not shapes:
            return None
        shape = tuple(max(0.05, sum(s[h] for s in shapes) / len(shapes)) for h in range(24))
        swing_mean = tuple(sum(s[h] for s in swings) / len(swings) for h in range(24)) if swings else None
        return cls(len(shapes), shape, sorted(invs)[len(invs) // 2], sorted(kept_phis)[len(kept_phis) // 2],
                   swing_mean)

    def to_json(self) -> dict[str, Any]:
        return {"topics": self.topics, "day_shape": list(self.day_shape), "inv_size": self.inv_size, "phi": self.phi,
                "share_hours": list(self.share_hours) if self.share_hours is not None else None}

    @classmethod
    def from_json(cls, doc: dict[str, Any] | None) -> TopicPrior | None:
        if not doc:
            return None
        hours = doc.get("share_hours")
        return cls(int(doc["topics"]), tuple(float(x) for x in doc["day_shape"]), float(doc["inv_size"]),
                   float(doc["phi"]), tuple(float(x) for x in hours) if hours else None)
