"""Exact tests for proportions, small enough to live in the serving path (no scipy).

``binom_sf`` is the incomplete-beta version of :mod:`badbuzz.stream.detection.significance` (constant time
whatever the window's size); the term-by-term sum it replaced took a millisecond per test at 1,500 tweets.
"""

from __future__ import annotations

import math

from badbuzz.stream.detection.significance import binom_sf

__all__ = ["binom_sf", "wilson_interval"]


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion: honest at small n, never outside [0, 1]."""
    if n == 0:
        return (0.0, 1.0)
    phat = k / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
