"""The multi-scale detector: both signals, quiet and busy topics, no double alerts, state that survives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from badbuzz.stream.detection.detector import Detector, DetectorConfig, TopicState
from badbuzz.stream.detection.significance import betainc, binom_sf, nbinom_sf, share_sf
from badbuzz.stream.simulation.simulation import SimEpisode, simulate

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def run(det: Detector, counts: list[tuple[int, int]], start: int = 0) -> list[tuple[int, str, str, int]]:
    """Feed (n, negatives) per minute; return (minute index, transition, signal, scale)."""
    out = []
    for i, (n, k) in enumerate(counts, start=start):
        ev = det.observe(T0 + timedelta(minutes=i), n, k)
        if ev.transition:
            trig = ev.strongest
            out.append((i, ev.transition, trig.signal, trig.minutes))
    return out


def week_counts(per_hour: float, seed: int, weeks: float, episodes: tuple[SimEpisode, ...] = ()
                ) -> list[tuple[int, int]]:
    """A clean simulated history with ``episodes`` applied on top (share and volume multipliers)."""
    week = simulate(per_hour, seed=seed, weeks=weeks, with_episodes=False)
    rng = np.random.default_rng(seed + 1000)
    n, k = week.n.copy(), week.k.copy()
    for ep in episodes:
        for i in range(ep.start, ep.start + ep.minutes):
            share_f, vol_f = ep.factors(i)
            extra = rng.poisson(max(0.0, vol_f - 1.0) * per_hour / 60)
            share = min(0.95, 0.27 * share_f)
            n[i] = n[i] + extra
            k[i] = rng.binomial(n[i], share) if share_f > 1 or vol_f > 1 else k[i]
    return list(zip(n.tolist(), k.tolist(), strict=True))


def test_tails_match_scipy_including_huge_windows() -> None:
    from scipy import stats
    for k, n, p in [(3, 10, 0.2), (40, 100, 0.25), (70_000, 240_000, 0.28), (1, 1, 0.5)]:
        assert binom_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-6, abs=1e-300)
    for k, mu, size in [(24, 7.2, 10.0), (3, 0.2, 20.0), (9000, 8000.0, 50.0)]:
        assert nbinom_sf(k, mu, size) == pytest.approx(stats.nbinom.sf(k - 1, size, size / (size + mu)), rel=1e-6)
    assert betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0
    assert binom_sf(0, 10, 0.3) == 1.0 and binom_sf(11, 10, 0.3) == 0.0
    # the beta-binomial tail kept as a loop (for speed) is scipy's, in its exact range (k above the mean); summed
    # from scipy's pmf, since betabinom.sf (1 - cdf) loses the far tail: 3.34e-11 where the sum is 3.11e-11
    cases = [(9, 20, 40.0, 200.0), (35, 60, 30.5, 61.0), (400, 1200, 700.0, 3000.0), (5, 5, 1.0, 9.0)]
    for k, n, base_k, base_n in cases:
        a, b = base_k + 0.5, base_n - base_k + 0.5
        assert k > n * a / (a + b)
        tail = stats.betabinom.pmf(range(k, n + 1), n, a, b).sum()
        assert share_sf(k, n, base_k, base_n) == pytest.approx(tail, rel=1e-9)


def test_a_quiet_topic_pile_on_fires_on_the_volume_of_negatives_over_an_hour_or_more() -> None:
    """20 tweets an hour: no minute-scale window ever holds enough; three times the complaints for two hours
    (share barely up) must still fire, on the volume signal, on a long window."""
    start = 8 * 1440 + 10 * 60  # Tuesday of week 2, 10:00
    episode = SimEpisode("volume", start, 120, 1.15, 3.5)
    events = run(Detector("t", DetectorConfig()), week_counts(20, 3, 1.5, (episode,)))
    fired = [e for e in events if e[1] == "firing"]
    assert len(fired) == 1, events
    minute, _, signal, scale = fired[0]
    assert start <= minute <= start + 180 and signal == "volume" and scale >= 60


def test_a_busy_topic_fires_within_minutes_on_a_short_window() -> None:
    start = 8 * 1440 + 14 * 60
    episode = SimEpisode("share", start, 30, 2.0, 1.0)
    events = run(Detector("t", DetectorConfig()), week_counts(20_000, 5, 1.3, (episode,)))
    fired = [e for e in events if e[1] == "firing"]
    assert len(fired) == 1, events
    assert fired[0][0] - start <= 5 and fired[0][3] <= 10


def test_clean_weeks_stay_under_one_false_alert_a_week_at_any_volume() -> None:
    """Six clean topic-weeks per volume (warm-up weeks included): at most one false alert a week (issue 15's
    bar; docs/alerting.md measures 0.2-0.7 a week over 22 weeks per tier)."""
    for per_hour in (20, 2000):
        fired = [e for seed in (11, 12, 13)
                 for e in run(Detector("t", DetectorConfig()), week_counts(per_hour, seed, 2.0)) if e[1] == "firing"]
        assert len(fired) <= 6, (per_hour, fired)


def test_a_six_hour_episode_fires_once_and_resolves_after_it_ends() -> None:
    start = 8 * 1440 + 9 * 60
    episode = SimEpisode("share", start, 360, 2.0, 1.0)
    events = [e for e in run(Detector("t", DetectorConfig()), week_counts(2000, 7, 1.5, (episode,)))
              if start - 60 <= e[0] <= start + 360 + 240]  # (false alerts are measured on clean weeks)
    assert [e[1] for e in events] == ["firing", "resolved"], events
    assert start <= events[0][0] <= start + 30 and events[1][0] >= start + 360 - 30


def test_a_night_time_buzz_is_found_against_other_nights() -> None:
    start = 8 * 1440 + 60  # Tuesday 01:00, when volume is at a third of the afternoon's
    episode = SimEpisode("night", start, 120, 2.0, 2.0)
    events = run(Detector("t", DetectorConfig()), week_counts(200, 13, 1.3, (episode,)))
    fired = [e for e in events if e[1] == "firing"]
    assert len(fired) == 1 and start <= fired[0][0] <= start + 120, events


def test_a_restored_state_continues_exactly_like_an_uninterrupted_detector() -> None:
    counts = week_counts(200, 17, 1.2, (SimEpisode("volume", 7 * 1440 + 600, 120, 1.3, 3.0),))
    whole = Detector("t", DetectorConfig())
    expected = run(whole, counts)
    first = Detector("t", DetectorConfig())
    cut = 7 * 1440 + 630  # inside the episode
    before = run(first, counts[:cut])
    saved = json.loads(json.dumps(first.state.to_json()))
    second = Detector("t", DetectorConfig(), TopicState.from_json(saved))
    assert before + run(second, counts[cut:], start=cut) == expected
    assert any(e[1] == "firing" for e in expected)


def test_a_state_saved_by_the_single_scale_detector_is_taken_over() -> None:
    old = {"baseline_k": 60.0, "baseline_n": 300.0, "recent": [[30, 6]], "status": "firing", "pending": 0,
           "calm": 0, "last_minute": "2026-01-05T10:00:00+00:00", "fired_at": "2026-01-05T09:58:00+00:00",
           "cooldown_until": None}
    state = TopicState.from_json(old)
    det = Detector("t", DetectorConfig(), state)
    assert det.baseline == pytest.approx(0.2) and state.status == "firing"
    assert det.next_minute() == datetime(2026, 1, 5, 10, 1, tzinfo=UTC)


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        DetectorConfig(scales=())
    with pytest.raises(ValueError):
        DetectorConfig(scales=(2, 2))
    with pytest.raises(ValueError):
        DetectorConfig(volume_min_ratio=0.5)


@pytest.mark.parametrize("offset", [0, 1, 30])
def test_a_new_topic_fires_whatever_minute_of_the_hour_it_started_in(offset: int) -> None:
    """The demo's case: 30 tweets a minute at 20 % negative, then ten minutes at 60 % two hours in. Started
    one minute before the hour (offset 1), the first hourly snapshot held one minute of tweets, and three hours
    later that became the usual share: nothing was significant and the episode was missed."""
    rng = np.random.default_rng(offset)
    counts = [(30, int(rng.binomial(30, 0.6 if 120 <= i < 130 else 0.2))) for i in range(180)]
    events = run(Detector("t", DetectorConfig()), counts, start=60 - offset)
    fired = [i - (60 - offset) for i, transition, _, _ in events if transition == "firing"]
    assert fired and 120 <= fired[0] < 130, events


@pytest.mark.parametrize("seed", [10, 12, 14])
def test_a_short_wave_three_hours_into_a_topic_fires_whatever_minute_the_topic_started(seed: int) -> None:
    """The deployment test's case: 10 tweets a minute at 45 % negative, then ten minutes of 40 a minute at
    65 %, 160 minutes in. Started at 34 past, the topic's first snapshot held 26 minutes (260 tweets), and
    from three hours on it became the usual share, where today's held 1,600: the wave stayed under the bar.
    Started from 25 to 59 past (a first hour of 35 minutes down to one), it must fire within its ten
    minutes; before ``share_lag_min_tweets`` these seeds missed it for 12 to 16 of those 35 start minutes.
    (From 13 to 24 past the switch to the lagged share falls inside the wave, on a snapshot of 360 tweets
    or more: there the draw decides, as it would for any wave this size.)"""
    rng = np.random.default_rng(seed)
    counts = []
    for i in range(180):
        n = int(rng.poisson(40 if 160 <= i < 170 else 10))
        counts.append((n, int(rng.binomial(n, 0.65 if 160 <= i < 170 else 0.45))))
    missed = []
    for past in range(25, 60):  # the topic's first minute, in minutes past the hour
        fired = [i - past for i, transition, _, _ in run(Detector("t", DetectorConfig()), counts, start=past)
                 if transition == "firing"]
        if not (fired and 160 <= fired[0] < 171):
            missed.append((past, fired))
    assert not missed, missed
