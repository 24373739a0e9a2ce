"""What the counts allow: each target episode as an oracle that knows when it starts sees it.

A target is an episode an oracle who knew its start and end would see at 5 standard deviations *on
expectation* (:class:`~badbuzz.stream.simulation.simulation._Oracle`). The tweets the stream then draws can
show it weaker or stronger, and a detector only ever sees those. To say how much of a recall or time-to-detect
gap is the detector's and how much the counts', this module replays each target on the counts the detector was
fed, as the best a detector could do: it knows the minute the episode starts and the brand's usual volume and
share (no baseline to learn), and from that minute on it tests the growing window [start, start + t) every
minute until an hour after the end, at ``BOUND_Z`` standard deviations (about the level one of our windows
gets, docs/alerting.md), on the share (quasi-binomial with the profile's φ) and on the negative volume (the
profile's hour-to-hour over-dispersion), the same two views the target rule uses.

It fires no false alarm only because it is told the start: a bound, not a detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from badbuzz.stream.detection.significance import binom_sf, nbinom_sf, normal_sf
from badbuzz.stream.simulation.simulation import FieldProfile, SimEpisode, SimWeek

BOUND_Z = 3.5


@dataclass(frozen=True)
class Bound:
    episode: SimEpisode
    found: bool
    minutes: float | None  # minutes from the start to the first test at ``BOUND_Z``; None: never
    best_p: float  # the smallest p-value over the scan


def episode_bound(week: SimWeek, ep: SimEpisode, field: FieldProfile, *, grace: int, z: float = BOUND_Z) -> Bound:
    """The oracle's scan of one episode (minutes ``start`` .. ``start + minutes + grace``)."""
    if week.usual_n is None or week.usual_p is None:
        raise ValueError("this history carries no usual volume and share (simulated before oracle bounds)")
    sl = slice(ep.start, min(week.minutes, ep.start + ep.minutes + grace))
    n = np.cumsum(week.n[sl], dtype=float)
    k = np.cumsum(week.k[sl], dtype=float)
    usual_n = np.cumsum(week.usual_n[sl])
    usual_k = np.cumsum(week.usual_n[sl] * week.usual_p[sl])
    level = normal_sf(z)
    phi = field.share_dispersion
    first: float | None = None
    best = 1.0
    for t in range(len(n)):
        # exact tails, not z: at 20 tweets an hour a few minutes hold a fraction of a negative tweet, where
        # a normal approximation calls three tweets a five-sigma event
        p0 = min(max(usual_k[t] / usual_n[t], 1e-6), 1 - 1e-6) if usual_n[t] > 0 else None
        p_share = binom_sf(round(k[t] / phi), max(1, round(n[t] / phi)), p0) if p0 is not None and n[t] > 0 else 1.0
        inv = field.volume_dispersion((t + 1) / 60.0)
        p_volume = nbinom_sf(k[t], usual_k[t], 1.0 / inv) if usual_k[t] > 0 and k[t] > usual_k[t] else 1.0
        p = min(p_share, p_volume)
        best = min(best, p)
        if first is None and p <= level:
            first = float(t + 1)
    return Bound(ep, first is not None, first, best)


def target_bounds(week: SimWeek, field: FieldProfile, *, grace: int, z: float = BOUND_Z) -> list[Bound]:
    """The bound of every target episode of a history."""
    return [episode_bound(week, ep, field, grace=grace, z=z) for ep in week.episodes if ep.target]
