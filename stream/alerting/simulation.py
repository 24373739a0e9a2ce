"""Simulated brand weeks at a given volume, with injected bad-buzz episodes of several shapes.

Minute counts, not tweets: at 20,000 tweets an hour a simulated month is 14 million tweets, and the
detector only ever sees per-minute counts. The stream has what real brand traffic has: a daily rhythm
(nights at a third of the afternoon peak), quieter weekends, and over-dispersion (each day and each hour
gets its own random level, so counts vary more than Poisson). Tweets are labelled as the *served model*
would: a truly negative tweet is called negative with the model's recall (``tpr``), another tweet with
its false-positive rate (``fpr``), both measured on a human-labelled test set.

Episode shapes (the ways a bad buzz shows):

- ``share``: the negative share ×1.5–2 for 1–6 h, volume unchanged (the tone turns);
- ``volume``: three times the usual negative tweets with the share up 10 points (a pile-on);
- ``buildup``: the share rises linearly to ×2 over 6 h (a story that grows);
- ``night``: share ×2 and volume ×2 for 2 h in the small hours.

An episode is a *target* when it is detectable at all: an oracle that knew when it started and ended would
see it at ``TARGET_Z`` standard deviations, in its negative share or in its negative volume (see
:func:`_with_target`). Below that, no detector can find it without false alarms; those are still reported,
as "all episodes".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

TARGET_Z = 5.0
ORACLE_DISPERSION = 0.05
SHAPES = ("share", "volume", "buildup", "night")


@dataclass(frozen=True)
class LabelNoise:
    """The served model's negative label: P(negative | truly negative), P(negative | not negative)."""

    tpr: float = 0.78
    fpr: float = 0.10

    def predicted_share(self, true_share: float) -> float:
        return true_share * self.tpr + (1 - true_share) * self.fpr


@dataclass(frozen=True)
class FieldProfile:
    """What real brand traffic has beyond the default simulator (docs/alerting-calibration.md, issue 28):

    - ``diurnal_depth``: the busiest hour of the day over the quietest (field: 7–44; default 4.6);
    - ``hour_shape``: gamma shape of each hour's volume level (lower: more over-dispersed counts);
    - ``jump_rate``/``jump_stay``/``jump_size``: self-exciting volume jumps, an hour starting one with
      ``jump_rate``, each jump hour followed by another with ``jump_stay``, volume ×``jump_size`` (field:
      0.6–5 % of hours above 3× their hour's mean); a jump's share is the brand's usual (a mention spike is not
      a complaint wave);
    - ``share_concentration``: κ of each hour's Beta-distributed negative share (variance s(1−s)/(κ+1) on top
      of the binomial; field: 1.5–2.3 × the binomial at 3–25 tweets an hour).
    """

    diurnal_depth: float = 15.0
    hour_shape: float = 6.0
    jump_rate: float = 0.008
    jump_stay: float = 0.45
    jump_size: tuple[float, float] = (3.0, 6.0)
    share_concentration: float = 12.0


@dataclass(frozen=True)
class SimEpisode:
    shape: str
    start: int  # minute index from the origin
    minutes: int
    share_factor: float  # peak multiplier of the true negative share
    volume_factor: float  # multiplier of total volume
    target: bool = False
    z: float = 0.0

    def factors(self, t: int) -> tuple[float, float]:
        """(share multiplier, volume multiplier) at minute ``t`` (1, 1 outside the episode)."""
        if not self.start <= t < self.start + self.minutes:
            return 1.0, 1.0
        if self.shape == "buildup":
            frac = (t - self.start + 1) / self.minutes
            return 1.0 + (self.share_factor - 1.0) * frac, 1.0
        return self.share_factor, self.volume_factor


@dataclass(frozen=True)
class SimWeek:
    """A simulated topic history: ``warmup_days`` of clean history, then the evaluated days."""

    per_hour: float
    origin: datetime
    minutes: int
    eval_start: int
    episodes: tuple[SimEpisode, ...]
    n: np.ndarray
    k: np.ndarray

    def minute(self, i: int) -> datetime:
        return self.origin + timedelta(minutes=i)

    def counts(self) -> Iterator[tuple[datetime, int, int]]:
        for i in range(self.minutes):
            yield self.minute(i), int(self.n[i]), int(self.k[i])


def rhythm(minute_of_week: np.ndarray) -> np.ndarray:
    """Volume multiplier: daily curve (trough 04:00 at 0.35, peak 16:00 at 1.65), weekends at 0.75."""
    hour = (minute_of_week % 1440) / 60.0
    daily = 1.0 + 0.65 * np.sin(2 * np.pi * (hour - 10.0) / 24.0)
    weekend = np.where(minute_of_week // 1440 >= 5, 0.75, 1.0)
    return np.asarray(daily * weekend)


def deep_rhythm(minute_of_week: np.ndarray, depth: float) -> np.ndarray:
    """A daily curve whose busiest hour carries ``depth`` times its quietest (log-sinusoidal; trough 04:00,
    peak 16:00), weekends at 0.75."""
    hour = (minute_of_week % 1440) / 60.0
    daily = np.exp(0.5 * math.log(depth) * np.sin(2 * np.pi * (hour - 10.0) / 24.0))
    weekend = np.where(minute_of_week // 1440 >= 5, 0.75, 1.0)
    return np.asarray(daily * weekend)


def _jumps(rng: np.random.Generator, hours: int, field: FieldProfile) -> np.ndarray:
    """Per-hour volume multipliers: self-exciting jumps (a jump hour makes the next one likelier)."""
    out = np.ones(hours)
    jumping = False
    for h in range(hours):
        jumping = rng.random() < (field.jump_stay if jumping else field.jump_rate)
        if jumping:
            out[h] = rng.uniform(*field.jump_size)
    return out


def simulate(per_hour: float, *, seed: int, weeks: float = 2.0, warmup_days: float = 7.0,
             base_share: float = 0.25, noise: LabelNoise = LabelNoise(), episodes_per_week: int = 6,
             with_episodes: bool = True, field: FieldProfile | None = None) -> SimWeek:
    """One topic's history at ``per_hour`` tweets an hour on average, episodes only after the warm-up; with
    ``field``, the deeper, burstier, over-dispersed traffic of real brands (:class:`FieldProfile`)."""
    rng = np.random.default_rng(seed)
    origin = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    minutes = int(weeks * 7 * 1440)
    eval_start = int(warmup_days * 1440)
    t = np.arange(minutes)
    curve = rhythm if field is None else (lambda m: deep_rhythm(m, field.diurnal_depth))
    shape = curve(t % (7 * 1440))
    mean_rhythm = float(curve(np.arange(7 * 1440)).mean())
    lam = per_hour / 60.0 * shape / mean_rhythm
    hours = minutes // 60 + 1
    day_level = rng.gamma(100.0, 1 / 100.0, size=minutes // 1440 + 1)  # ±10 % per day
    hour_shape = 100.0 if field is None else field.hour_shape
    hour_level = rng.gamma(hour_shape, 1 / hour_shape, size=hours)  # ±10 % per hour by default
    if field is not None:
        hour_level = hour_level * _jumps(rng, hours, field)
    lam = lam * day_level[t // 1440] * hour_level[t // 60]
    share = np.full(minutes, base_share) * (1.0 + 0.1 * np.sin(2 * np.pi * ((t % 1440) / 1440.0 - 0.3)))
    if field is not None:  # each hour's own share around the brand's, Beta-distributed
        kappa = field.share_concentration
        hourly = np.clip(share[::60], 1e-3, 0.999)
        drawn = rng.beta(kappa * hourly, kappa * (1 - hourly))
        share = drawn[t // 60]
    eps = _episodes(rng, minutes, eval_start, episodes_per_week) if with_episodes else []
    share_mult = np.ones(minutes)
    vol_mult = np.ones(minutes)
    for ep in eps:
        for i in range(ep.start, min(minutes, ep.start + ep.minutes)):
            s_f, v_f = ep.factors(i)
            share_mult[i], vol_mult[i] = s_f, v_f
    true_share = np.minimum(0.95, share * share_mult)
    if eps:  # the volume shape adds 10 points of share on top of its volume
        for ep in eps:
            if ep.shape == "volume":
                sl = slice(ep.start, ep.start + ep.minutes)
                true_share[sl] = np.minimum(0.95, share[sl] + 0.10)
    n = rng.poisson(lam * vol_mult)
    k_true = rng.binomial(n, true_share)
    k = rng.binomial(k_true, noise.tpr) + rng.binomial(n - k_true, noise.fpr)
    scored = tuple(_with_target(ep, lam, share, noise) for ep in eps)
    return SimWeek(per_hour, origin, minutes, eval_start, scored, n, k)


def _episodes(rng: np.random.Generator, minutes: int, eval_start: int, per_week: int) -> list[SimEpisode]:
    """Non-overlapping episodes after the warm-up, at least 18 h apart, shapes in turn."""
    out: list[SimEpisode] = []
    weeks = (minutes - eval_start) / (7 * 1440)
    count = max(1, round(per_week * weeks))
    slot = (minutes - eval_start) // count
    order = [SHAPES[int(j)] for _ in range(count // len(SHAPES) + 1) for j in rng.permutation(len(SHAPES))]
    for i in range(count):
        shape = order[i]
        base = eval_start + i * slot
        if shape == "share":
            dur = int(rng.choice([60, 180, 360]))
            ep = SimEpisode(shape, 0, dur, float(rng.choice([1.5, 2.0])), 1.0)
        elif shape == "volume":
            dur = int(rng.choice([60, 120, 180]))
            ep = SimEpisode(shape, 0, dur, 1.0, 3.0)
        elif shape == "buildup":
            ep = SimEpisode(shape, 0, 360, 2.0, 1.0)
        else:
            ep = SimEpisode(shape, 0, 120, 2.0, 2.0)
        if shape == "night":  # starts between 00:00 and 03:00 of the slot's first full day
            day0 = (base // 1440 + 1) * 1440
            start = day0 + int(rng.integers(0, 180))
        else:  # daytime, 08:00–16:00
            day0 = (base // 1440 + 1) * 1440
            start = day0 + 8 * 60 + int(rng.integers(0, 8 * 60))
        if start + ep.minutes + 60 >= minutes or start + ep.minutes >= eval_start + (i + 1) * slot + 1440:
            continue
        out.append(SimEpisode(ep.shape, start, ep.minutes, ep.share_factor, ep.volume_factor))
    return out


def _with_target(ep: SimEpisode, lam: np.ndarray, share: np.ndarray, noise: LabelNoise) -> SimEpisode:
    """The oracle z-score of the episode, the better of two views an oracle who knew its start and end
    could take: its negative *share* (binomial over the episode's tweets) and its negative *volume* (the
    excess negatives against the usual count, with the over-dispersion of real brand volume,
    ``ORACLE_DISPERSION``: an oracle cannot know a topic's usual count better than its history tells)."""
    tweets = usual_tweets = negatives = usual = 0.0
    for i in range(ep.start, ep.start + ep.minutes):
        s_f, v_f = ep.factors(i)
        true = min(0.95, share[i] + 0.10) if ep.shape == "volume" else min(0.95, share[i] * s_f)
        tweets += lam[i] * v_f
        usual_tweets += lam[i]
        negatives += lam[i] * v_f * noise.predicted_share(true)
        usual += lam[i] * noise.predicted_share(share[i])
    p0, p1 = usual / usual_tweets, negatives / tweets
    z_share = (p1 - p0) * math.sqrt(tweets) / math.sqrt(p0 * (1 - p0))
    z_volume = (negatives - usual) / math.sqrt(usual * (1 + ORACLE_DISPERSION * usual))
    z = max(z_share, z_volume)
    return SimEpisode(ep.shape, ep.start, ep.minutes, ep.share_factor, ep.volume_factor, z >= TARGET_Z, z)
