"""The detector on synthetic minute counts: fires early on waves, stays silent on noise, does not flap."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from badbuzz.stream.simulation.single_scale import Detector, DetectorConfig, TopicState

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


def feed(det: Detector, rates: list[tuple[int, float]], rng: random.Random, start: int = 0) -> list[tuple[int, str]]:
    """Feed (volume, negative probability) per minute; return (minute index, transition) pairs."""
    out = []
    for i, (n, p) in enumerate(rates, start=start):
        k = sum(rng.random() < p for _ in range(n))
        ev = det.observe(T0 + timedelta(minutes=i), n, k)
        if ev.transition:
            out.append((i, ev.transition))
    return out


def test_no_verdict_before_warmup_then_baseline_is_learned() -> None:
    det = Detector("t", DetectorConfig())
    rng = random.Random(1)
    assert feed(det, [(30, 0.2)] * 5, rng) == []
    assert det.baseline is None  # 150 tweets < 200 warm-up
    feed(det, [(30, 0.2)] * 60, rng, start=5)
    assert det.baseline == pytest.approx(0.2, abs=0.04)


def test_doubling_wave_fires_within_minutes_once_and_resolves() -> None:
    det = Detector("t", DetectorConfig())
    rng = random.Random(7)
    calm, wave = [(30, 0.2)] * 120, [(30, 0.45)] * 12
    events = feed(det, calm + wave + calm, rng)
    assert [e for _, e in events] == ["firing", "resolved"]
    fired, resolved = events[0][0], events[1][0]
    assert 120 <= fired <= 124  # detected within 4 minutes of the wave's start
    assert 132 <= resolved <= 145  # the long window must clear, then 3 calm minutes


def test_clean_stream_stays_silent_for_a_day() -> None:
    det = Detector("t", DetectorConfig())
    rng = random.Random(3)
    assert feed(det, [(40, 0.25)] * 1440, rng) == []


def test_small_significant_shift_at_high_volume_is_not_an_alert() -> None:
    det = Detector("t", DetectorConfig())
    rng = random.Random(5)
    events = feed(det, [(2000, 0.20)] * 60 + [(2000, 0.24)] * 20, rng)
    assert events == []  # 24% vs 20% is significant at this volume but not 1.3× the baseline


def test_low_volume_never_fires() -> None:
    det = Detector("t", DetectorConfig())
    rng = random.Random(2)
    assert feed(det, [(10, 0.2)] * 200 + [(2, 1.0)] * 10, rng) == []


def test_cooldown_keeps_one_alert_per_episode() -> None:
    det = Detector("t", DetectorConfig(cooldown_minutes=30))
    rng = random.Random(11)
    wave = [(30, 0.6)] * 8
    lull = [(30, 0.2)] * 8
    events = feed(det, [(30, 0.2)] * 120 + wave + lull + wave + [(30, 0.2)] * 20, rng)
    assert [e for _, e in events].count("firing") == 1


def test_state_survives_a_restart_through_json() -> None:
    rng = random.Random(9)
    a = Detector("t", DetectorConfig())
    feed(a, [(30, 0.2)] * 100 + [(30, 0.5)] * 3, rng)
    saved = json.loads(json.dumps(a.state.to_json()))
    b = Detector("t", DetectorConfig(), TopicState.from_json(saved))
    assert b.baseline == a.baseline and b.state.status == a.state.status
    assert b.next_minute() == T0 + timedelta(minutes=103)
    with pytest.raises(ValueError, match="already observed"):
        b.observe(T0 + timedelta(minutes=50), 1, 0)


@pytest.mark.parametrize("bad", [dict(short_window=6, long_window=5), dict(alpha=0), dict(min_ratio=0.5)])
def test_config_is_validated(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DetectorConfig(**bad)  # type: ignore[arg-type]
