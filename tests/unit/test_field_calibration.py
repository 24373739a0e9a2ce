"""The field figures the simulator will be calibrated against (issue 28), on streams whose figures are known."""

from __future__ import annotations

import importlib.util
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def figures(rows: list[tuple[datetime, bool]]) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("field_calibration", ROOT / "bench" / "field_calibration.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return dict(bench.figures(rows))


def test_depth_jumps_and_dispersion_are_measured_as_defined() -> None:
    rng = random.Random(3)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    rows = []
    for day in range(14):
        for hour in range(24):
            n = 40 if hour == 16 else 5  # the busiest hour carries 8x the others
            if day == 3 and hour == 10:
                n = 30  # one jump: 6x its hour's usual
            share = 0.2 if day % 2 else 0.6  # days alternate: hourly shares swing beyond the binomial
            for i in range(n):
                rows.append((start + timedelta(days=day, hours=hour, seconds=i), rng.random() < share))
    f = figures(rows)
    assert 6 < f["diurnal_depth"] < 10
    assert f["hours_over_3x_same_hour_mean"] == 1 / (14 * 24)
    assert f["share_dispersion_vs_binomial"] > 1.3
    assert 0.3 < f["baseline_negative_share"] < 0.5
    steady = [(start + timedelta(minutes=m), rng.random() < 0.4) for m in range(14 * 24 * 60)]
    assert 0.7 < figures(steady)["share_dispersion_vs_binomial"] < 1.3  # a binomial stream reads as 1
