"""The oracle bound: what an episode's own counts allow a detector told when it starts (docs/alerting.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.simulation.oracle_bound import episode_bound, target_bounds
from badbuzz.stream.simulation.simulation import FieldProfile, LabelNoise, SimEpisode, SimWeek, simulate
from badbuzz.stream.simulation.tiers import Cell, bound_name, measure_cell

FIELD = FieldProfile()
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _week(n: np.ndarray, k: np.ndarray, episode: SimEpisode, per_minute: float, share: float) -> SimWeek:
    minutes = len(n)
    return SimWeek(per_minute * 60, T0, minutes, 0, (episode,), n, k, None,
                   np.full(minutes, per_minute), np.full(minutes, share))


def test_a_tripled_complaint_volume_is_found_within_minutes_and_the_usual_stream_never() -> None:
    minutes, start = 600, 200
    n = np.full(minutes, 30)  # 1,800 tweets an hour at the usual share 0.25
    k = np.full(minutes, 8)
    k[start:start + 60] = 24  # three times the negatives for an hour
    ep = SimEpisode("volume", start, 60, 1.0, 3.0, True, 8.0)
    found = episode_bound(_week(n, k, ep, 30.0, 0.25), ep, FIELD, grace=60)
    assert found.found and found.minutes is not None and found.minutes <= 3
    calm = SimEpisode("volume", 400, 60, 1.0, 3.0, True, 8.0)  # no extra negatives there
    assert not episode_bound(_week(n, k, calm, 30.0, 0.25), calm, FIELD, grace=60).found


def test_three_tweets_in_three_quiet_minutes_are_not_a_five_sigma_event() -> None:
    """At 20 tweets an hour a normal approximation would call this z ≈ 5; the exact tail does not."""
    minutes, start = 300, 100
    n = np.zeros(minutes, dtype=int)
    k = np.zeros(minutes, dtype=int)
    n[start:start + 3] = 1
    k[start:start + 3] = 1
    ep = SimEpisode("surge", start, 3, 1.0, 3.0, True, 5.0)
    bound = episode_bound(_week(n, k, ep, 20 / 60, 0.27), ep, FIELD, grace=0)
    assert not bound.found
    assert bound.best_p > 1e-3


def test_the_bound_finds_no_more_at_a_stricter_bar_and_reports_per_tier() -> None:
    week = simulate(200.0, seed=3, weeks=2.0, noise=LabelNoise(), base_share=0.5, field=FIELD)
    loose = target_bounds(week, FIELD, grace=60, z=3.0)
    strict = target_bounds(week, FIELD, grace=60, z=4.5)
    assert loose and len(loose) == len(strict)
    for a, b in zip(loose, strict, strict=True):
        assert a.found or not b.found
        if b.minutes is not None:
            assert a.minutes is not None and a.minutes <= b.minutes
    cell = Cell(200.0, 0.5, (1,), 2.0, LabelNoise(), DetectorConfig(), FIELD, detectors=("ours",), bounds=(3.5,))
    reports = measure_cell(cell)
    assert reports[bound_name(3.5)].targets == reports["ours"].targets > 0


def test_a_history_without_usual_levels_cannot_be_bounded() -> None:
    ep = SimEpisode("share", 0, 10, 1.5, 1.0, True, 6.0)
    week = SimWeek(20.0, T0, 10, 0, (ep,), np.zeros(10), np.zeros(10))
    with pytest.raises(ValueError, match="usual"):
        episode_bound(week, ep, FIELD, grace=0)

