"""Field figures a bad-buzz simulator must reproduce, measured on timestamped tweets (issue 28, first step).

For a file of timestamped, labelled tweets (Sentiment140 format, or the simulator's own output) it reports:
- diurnal depth: mean tweets in the busiest hour of the day over the quietest (the field: 7-44x);
- volume jumps: share of hours above three times the mean of the same hour of the day (the field: 0.6-5 %);
- over-dispersion of the negative share: variance of the hourly negative share over the binomial variance at
  the same volumes (the field: 1.5-2.3);
- baseline negative share.

    python bench/field_calibration.py --data ../shared/data/sentiment140/sentiment140_random_sample_24934.csv.xz

Sentiment140 was collected by querying the search API on some days and not others, so its volume pattern is
partly the collection's; its hours of the day and its share dispersion are the tweets'.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def hourly(rows: list[tuple[datetime, bool]]) -> dict[datetime, tuple[int, int]]:
    out: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    for ts, negative in rows:
        hour = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        out[hour][0] += 1
        out[hour][1] += int(negative)
    return {h: (n, k) for h, (n, k) in out.items()}


def figures(rows: list[tuple[datetime, bool]], min_hour_tweets: int = 5) -> dict[str, float]:
    hours = hourly(rows)
    by_hour_of_day: dict[int, list[int]] = defaultdict(list)
    for h, (n, _) in hours.items():
        by_hour_of_day[h.hour].append(n)
    means = {hod: float(np.mean(v)) for hod, v in by_hour_of_day.items()}
    jumps = sum(n > 3 * means[h.hour] for h, (n, _) in hours.items())
    p = sum(k for _, k in hours.values()) / max(1, sum(n for n, _ in hours.values()))
    shares = [(k / n, n) for n, k in hours.values() if n >= min_hour_tweets]
    observed = float(np.var([s for s, _ in shares])) if shares else float("nan")
    binomial = float(np.mean([p * (1 - p) / n for _, n in shares])) if shares else float("nan")
    return {"tweets": float(len(rows)), "hours_with_tweets": float(len(hours)),
            "diurnal_depth": max(means.values()) / max(min(means.values()), 1e-9),
            "hours_over_3x_same_hour_mean": jumps / max(1, len(hours)),
            "share_dispersion_vs_binomial": observed / binomial if binomial else float("nan"),
            "baseline_negative_share": p}


def simulated(per_hour: float, seed: int = 1, base_share: float = 0.25, field: bool = False
              ) -> list[tuple[datetime, bool]]:
    """Two episode-free weeks of the simulator (stream/simulation/simulation.py) as timestamped tweets, with true
    labels (the field's figures are from human labels); with ``field``, its calibrated profile."""
    from badbuzz.stream.simulation.simulation import FieldProfile, LabelNoise, simulate

    week = simulate(per_hour, seed=seed, weeks=2.0, warmup_days=0.0, base_share=base_share, with_episodes=False,
                    field=FieldProfile() if field else None, noise=LabelNoise(tpr=1.0, fpr=0.0))
    return [(minute, i < k) for minute, n, k in week.counts() for i in range(n)]


def main() -> None:
    from badbuzz.models.data import iter_sentiment140

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="a Sentiment140-format file")
    parser.add_argument("--simulate", type=float, action="append", default=[], metavar="PER_HOUR",
                        help="also measure the simulator at this volume, as it was and calibrated (repeat)")
    parser.add_argument("--base-share", type=float, action="append", default=[], metavar="SHARE",
                        help="baseline negative shares of the calibrated brands (repeat; default 0.25)")
    args = parser.parse_args()
    args.base_share = args.base_share or [0.25]
    columns: dict[str, dict[str, float]] = {}
    if args.data:
        columns["Sentiment140"] = figures([(r.date, r.target == 0) for r in iter_sentiment140(args.data)
                                           if r.date is not None])
    for per_hour in args.simulate:
        columns[f"simulator {per_hour:g}/h"] = figures(simulated(per_hour))
    for per_hour in args.simulate:
        for share in args.base_share:
            columns[f"field profile {per_hour:g}/h, {share:.0%}"] = figures(simulated(per_hour, base_share=share,
                                                                                    field=True))
    names = list(next(iter(columns.values()))) if columns else []
    print("| figure | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{c[name]:,.3f}" for c in columns.values()) + " |")


if __name__ == "__main__":
    main()
