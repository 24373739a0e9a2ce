from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from badbuzz.stream.detection.aggregation import MinuteCount, Watermark, increments, minute_of
from badbuzz.stream.detection.stats import binom_sf, wilson_interval


def test_binom_sf_matches_hand_computed_values() -> None:
    # P(X >= 2 | n=3, p=0.5) = (3 + 1) / 8
    assert binom_sf(2, 3, 0.5) == pytest.approx(0.5)
    # P(X >= 3 | n=3, p=0.1) = 0.001
    assert binom_sf(3, 3, 0.1) == pytest.approx(0.001)
    # P(X >= 1 | n=10, p=0.2) = 1 - 0.8**10
    assert binom_sf(1, 10, 0.2) == pytest.approx(1 - 0.8**10)
    assert binom_sf(0, 5, 0.3) == 1.0 and binom_sf(6, 5, 0.3) == 0.0


def test_binom_sf_is_stable_at_high_volume() -> None:
    p = binom_sf(6000, 20000, 0.25)  # 30% vs 25% on 20k tweets: astronomically unlikely, not NaN
    assert 0.0 <= p < 1e-40
    assert binom_sf(5000, 20000, 0.25) == pytest.approx(0.5, abs=0.01)


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_increments_count_per_topic_and_minute() -> None:
    events = [
        (("all", "delays"), T0 + timedelta(seconds=5), True),
        (("all",), T0 + timedelta(seconds=59), False),
        (("all", "delays"), T0 + timedelta(minutes=1, seconds=1), False),
    ]
    out = increments(events)
    assert out == [
        MinuteCount("all", T0, 2, 1),
        MinuteCount("all", T0 + timedelta(minutes=1), 1, 0),
        MinuteCount("delays", T0, 1, 1),
        MinuteCount("delays", T0 + timedelta(minutes=1), 1, 0),
    ]
    assert out[0].rate == 0.5 and math.isclose(MinuteCount("x", T0, 0, 0).rate, 0.0)


def test_watermark_closes_minutes_after_lateness() -> None:
    wm = Watermark(timedelta(seconds=30))
    assert wm.closed_before(None) is None
    # newest event 10:05:20 → watermark 10:04:50 → minutes before 10:04 are closed, 10:04 is still open
    assert wm.closed_before(T0 + timedelta(minutes=5, seconds=20)) == T0 + timedelta(minutes=4)
    with pytest.raises(ValueError):
        minute_of(datetime(2026, 1, 1))
