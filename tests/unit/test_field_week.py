"""Issue 28's real-week protocol on simulated weeks: the truth rule as defined, the rule run as a detector, and
the scoring of found episodes, outside alerts and chance windows."""

from __future__ import annotations

import numpy as np

from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.simulation.field_week import (
    SETTLE_MINUTES,
    TruthRule,
    airline_week,
    rule_alerts,
    rule_episodes,
    score_week,
)

DAY = 1440


def steady(days: int, per_minute: int = 1, negative_every: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """One tweet a minute, every fourth negative: a 25 % brand with no episode."""
    n = np.full(days * DAY, per_minute)
    k = (np.arange(days * DAY) % negative_every == 0).astype(int) * per_minute
    return n, k


def test_the_rule_holds_on_share_or_on_count_as_issue_28_defines_it() -> None:
    rule = TruthRule()
    assert rule.holds(100, 40, 1000, 250, 100)  # 40 % against 25 %: 1.6x and 15 points
    assert not rule.holds(100, 33, 1000, 250, 100)  # 1.32x but 8 points
    assert not rule.holds(100, 85, 1000, 700, 100)  # 85 % against 70 %: 15 points but 1.21x
    assert rule.holds(100, 25, 1000, 250, 12)  # same share, but 25 negatives, twice the 12 of the days before
    assert not rule.holds(60, 15, 1000, 250, 7)  # twice the days before, but under 20 negatives


def test_rule_episodes_are_clock_aligned_windows_after_48_hours_merged_when_consecutive() -> None:
    n, k = steady(5)
    assert rule_episodes(n, k) == []
    # 03:00-09:00 on day 3: every tweet negative, two windows in a row: one episode
    k[3 * DAY + 180: 3 * DAY + 540] = 1
    # the same on day 1, before 48 h of history: not scored
    k[DAY + 180: DAY + 360] = 1
    assert rule_episodes(n, k) == [(3 * DAY + 180, 3 * DAY + 540)]


def test_the_rule_as_a_detector_fires_once_per_run_on_the_trailing_window() -> None:
    n, k = steady(4)
    k[3 * DAY + 200: 3 * DAY + 320] = 1
    fired = rule_alerts(n, k)
    assert len(fired) == 1
    assert 3 * DAY + 200 < fired[0] <= 3 * DAY + 320


def test_scoring_counts_found_outside_and_chance_episodes() -> None:
    episodes = [(3000, 3180), (4000, 4180)]
    events = [(3100, 3400)]  # the simulator put something in the first episode only
    fired = [3050, 3060, 4300, SETTLE_MINUTES - 10, 5000]
    s = score_week(episodes, fired, events)
    assert (s.episodes, s.found, s.event_episodes, s.event_found) == (2, 1, 1, 1)
    assert s.chance_episodes == 1 and s.chance_found == 0
    assert s.ttd == [50.0]
    # 4300 is more than an hour past the second episode; the alert before 48 h is not counted
    assert s.outside == 2


def test_an_airline_week_scores_both_detectors_on_both_labels_against_the_same_episodes() -> None:
    week = airline_week(1, DetectorConfig(), with_episodes=True)
    assert set(week) == {("human", "ours"), ("human", "rule"), ("served", "ours"), ("served", "rule")}
    episodes = {s.episodes for s in week.values()}
    assert len(episodes) == 1 and episodes.pop() > 0
    # the rule on the labels that define the truth finds every episode (its windows slide over the aligned ones)
    human_rule = week[("human", "rule")]
    assert human_rule.found == human_rule.episodes
    # our detector is far quieter than the rule outside episodes
    assert week[("served", "ours")].outside < week[("served", "rule")].outside
