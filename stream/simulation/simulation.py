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
- ``night``: share ×2 and volume ×2 for 2 h in the small hours;
- ``surge`` (field profile only): a volume jump at the usual share (:class:`FieldProfile`).

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
from typing import overload

import numpy as np

TARGET_Z = 5.0
ORACLE_DISPERSION = 0.05
SHAPES = ("share", "volume", "buildup", "night")


@dataclass(frozen=True)
class LabelNoise:
    """The served model's negative label: P(negative | truly negative), P(negative | not negative)."""

    tpr: float = 0.78
    fpr: float = 0.10

    @overload
    def predicted_share(self, true_share: float) -> float: ...

    @overload
    def predicted_share(self, true_share: np.ndarray) -> np.ndarray: ...

    def predicted_share(self, true_share: float | np.ndarray) -> float | np.ndarray:
        return true_share * self.tpr + (1 - true_share) * self.fpr


@dataclass(frozen=True)
class FieldProfile:
    """What real brand traffic has beyond the default simulator (docs/alerting-calibration.md, issue 28):

    - ``diurnal_depth``: the busiest hour of the day over the quietest (field: 7–44; default 4.6);
    - ``hour_shape``: gamma shape of each hour's volume level (lower: more over-dispersed counts);
    - ``jump_rate``/``jump_stay``/``jump_size``: self-exciting volume jumps, an hour starting one with
      ``jump_rate``, each jump hour followed by another with ``jump_stay``, volume ×``jump_size`` (field:
      0.6–5 % of hours above 3× their hour's mean). A jump is a *surge* with ``surge_fraction``: more
      tweets at the brand's usual share, so more complaints, which the field's own truth rule counts as an
      episode (negatives at least doubled); the others are *mention spikes* (a campaign, a news story, a
      viral post): the extra tweets are not complaints, the negative tweets grow only ×``mention_negatives``
      and the share falls accordingly. More tweets, proportionally fewer negative: not a bad buzz, though
      the served model's false positives on the extra tweets still raise its negative count;
    - ``share_dispersion``: φ, the variance of an hour's negative share over the binomial variance at that
      hour's volume (field: 1.5–2.3 at 3–25 tweets an hour, the same at every volume). Each hour's share is
      drawn from a Beta whose concentration is set from the hour's expected volume so that the ratio is φ
      at every volume (a quasi-binomial hour), not only at one.
    """

    diurnal_depth: float = 15.0
    hour_shape: float = 6.0
    jump_rate: float = 0.008
    jump_stay: float = 0.45
    jump_size: tuple[float, float] = (3.0, 6.0)
    surge_fraction: float = 0.5
    mention_negatives: tuple[float, float] = (1.0, 1.4)
    share_dispersion: float = 1.8

    def volume_dispersion(self, hours: float) -> float:
        """1/size of the negative volume over ``hours``: each hour's gamma level, averaged over the hours, plus
        the ±10 % day (what the target rule and the oracle bound allow for)."""
        return 0.01 + 1.0 / (self.hour_shape * max(1.0, hours))


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
    hour_kind: np.ndarray | None = None  # field profile: per hour, 0 usual, 1 surge, 2 mention spike
    # what the oracle expects of each minute without an episode: tweets (a surge hour's without its jump) and
    # the negative share in the labels the detector is fed (:mod:`badbuzz.stream.simulation.oracle_bound`)
    usual_n: np.ndarray | None = None
    usual_p: np.ndarray | None = None

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


def _jumps(rng: np.random.Generator, hours: int, field: FieldProfile) -> tuple[np.ndarray, np.ndarray]:
    """Per-hour volume multipliers of self-exciting jumps (a jump hour makes the next one likelier) and each
    hour's kind: 0 none, 1 surge (usual share), 2 mention spike (lower share). A run of jump hours is one kind."""
    out = np.ones(hours)
    kind = np.zeros(hours, dtype=np.int8)
    jumping = False
    current = 0
    for h in range(hours):
        was = jumping
        jumping = rng.random() < (field.jump_stay if jumping else field.jump_rate)
        if jumping:
            if not was:
                current = 1 if rng.random() < field.surge_fraction else 2
            out[h] = rng.uniform(*field.jump_size)
            kind[h] = current
    return out, kind


def _surges(kind: np.ndarray, mult: np.ndarray, eval_start: int, minutes: int) -> list[SimEpisode]:
    """Each run of surge hours after the warm-up as a ground-truth episode (shape ``surge``)."""
    out: list[SimEpisode] = []
    h = 0
    while h < len(kind):
        if kind[h] != 1:
            h += 1
            continue
        end = h
        while end < len(kind) and kind[end] == 1:
            end += 1
        start = h * 60
        if start >= eval_start and end * 60 <= minutes:
            out.append(SimEpisode("surge", start, (end - h) * 60, 1.0, float(mult[h:end].mean())))
        h = end
    return out


def simulate(per_hour: float, *, seed: int, weeks: float = 2.0, warmup_days: float = 7.0,
             base_share: float = 0.25, noise: LabelNoise = LabelNoise(), episodes_per_week: int = 6,
             with_episodes: bool = True, field: FieldProfile | None = None,
             target_noise: LabelNoise | None = None) -> SimWeek:
    """One topic's history at ``per_hour`` tweets an hour on average, episodes only after the warm-up; with
    ``field``, the deeper, burstier, over-dispersed traffic of real brands (:class:`FieldProfile`).

    Which episodes are targets is decided on labels from ``target_noise`` (default: ``noise``, the labels the
    detector sees); passing true labels there keeps the same targets when comparing the served model's
    labels with perfect ones (what the model's errors cost)."""
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
    usual_lam = lam * day_level[t // 1440] * hour_level[t // 60]  # the brand's volume without jumps
    usual_share = np.full(minutes, base_share) * (1.0 + 0.1 * np.sin(2 * np.pi * ((t % 1440) / 1440.0 - 0.3)))
    share = usual_share
    surges: list[SimEpisode] = []
    kind = None
    if field is not None:
        jump, kind = _jumps(rng, hours, field)
        lam = usual_lam * jump[t // 60]
        # each hour's own share around the brand's: Beta with the concentration that makes its variance
        # share_dispersion times the binomial at the hour's expected volume (quasi-binomial at every volume)
        expected = np.bincount(t // 60, weights=lam, minlength=hours)
        kappa = np.maximum(0.5, (np.maximum(expected, 1.0) - 1.0) / max(field.share_dispersion - 1.0, 1e-6) - 1.0)
        hourly = np.clip(usual_share[::60], 1e-3, 0.999)
        hourly = np.concatenate([hourly, np.full(hours - len(hourly), hourly[-1])]) if len(hourly) < hours else hourly
        lowered = np.where(kind == 2, rng.uniform(*field.mention_negatives, size=hours) / jump, 1.0)
        mean = np.clip(hourly * lowered, 1e-3, 0.999)
        drawn = rng.beta(kappa * mean, kappa * (1 - mean))
        share = drawn[t // 60]
        surges = _surges(kind, jump, eval_start, minutes)
    else:
        lam = usual_lam
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
    judge = target_noise or noise
    oracle = _Oracle(field)
    scored = [oracle.score(ep, lam, usual_share if field is not None else share, judge) for ep in eps]
    scored += [oracle.surge(ep, lam, usual_lam, usual_share, judge) for ep in surges]
    scored.sort(key=lambda e: e.start)
    usual_n = lam if kind is None else np.where(kind[t // 60] == 1, usual_lam, lam)
    base = usual_share if field is not None else share
    usual_p = noise.predicted_share(base)
    return SimWeek(per_hour, origin, minutes, eval_start, tuple(scored), n, k, kind, usual_n, usual_p)


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


@dataclass(frozen=True)
class _Oracle:
    """The z-score of an episode for an oracle who knew its start and end, the better of two views: its
    negative *share* (binomial over the episode's tweets, times the profile's over-dispersion φ) and its
    negative *volume* (excess negatives against the usual count, with the over-dispersion of brand volume:
    ``ORACLE_DISPERSION`` on the default simulator; on the field profile, each hour's gamma level averaged
    over the episode's hours plus the ±10 % day). An episode is a target at ``TARGET_Z``: below it, its
    signal sits inside the stream's own noise and no detector could find it without false alarms."""

    field: FieldProfile | None

    def _z(self, ep: SimEpisode, tweets: float, usual_tweets: float, negatives: float, usual: float) -> SimEpisode:
        p0, p1 = usual / usual_tweets, negatives / tweets
        phi = 1.0 if self.field is None else self.field.share_dispersion
        z_share = (p1 - p0) * math.sqrt(tweets) / math.sqrt(phi * p0 * (1 - p0))
        inv = ORACLE_DISPERSION if self.field is None else self.field.volume_dispersion(ep.minutes / 60.0)
        z_volume = (negatives - usual) / math.sqrt(usual * (1 + inv * usual))
        z = max(z_share, z_volume)
        return SimEpisode(ep.shape, ep.start, ep.minutes, ep.share_factor, ep.volume_factor, z >= TARGET_Z, z)

    def score(self, ep: SimEpisode, lam: np.ndarray, share: np.ndarray, noise: LabelNoise) -> SimEpisode:
        tweets = usual_tweets = negatives = usual = 0.0
        for i in range(ep.start, ep.start + ep.minutes):
            s_f, v_f = ep.factors(i)
            true = min(0.95, share[i] + 0.10) if ep.shape == "volume" else min(0.95, share[i] * s_f)
            tweets += lam[i] * v_f
            usual_tweets += lam[i]
            negatives += lam[i] * v_f * noise.predicted_share(true)
            usual += lam[i] * noise.predicted_share(share[i])
        return self._z(ep, tweets, usual_tweets, negatives, usual)

    def surge(self, ep: SimEpisode, lam: np.ndarray, usual_lam: np.ndarray, share: np.ndarray, noise: LabelNoise
              ) -> SimEpisode:
        sl = slice(ep.start, ep.start + ep.minutes)
        predicted = noise.predicted_share(share[sl])
        return self._z(ep, float(lam[sl].sum()), float(usual_lam[sl].sum()), float((lam[sl] * predicted).sum()),
                       float((usual_lam[sl] * predicted).sum()))
