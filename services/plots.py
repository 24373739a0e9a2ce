"""Plots a person would rather look at than read: the per-minute negative-rate timeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

MinuteRate = tuple[datetime, int, float]


def minute_rates(points: Iterable[tuple[datetime, str]], negative: str = "negative") -> list[MinuteRate]:
    """(minute, volume, negative share) per event-time minute, in order."""
    total: Counter[datetime] = Counter()
    neg: Counter[datetime] = Counter()
    for ts, label in points:
        minute = ts.replace(second=0, microsecond=0)
        total[minute] += 1
        neg[minute] += label == negative
    return [(m, total[m], neg[m] / total[m]) for m in sorted(total)]


def plot_negative_rate(rates: list[tuple[datetime, int, float]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, (ax, axv) = plt.subplots(2, 1, figsize=(10, 5), sharex=True, height_ratios=[3, 1])
    xs = [m for m, _, _ in rates]
    ax.plot(xs, [r for _, _, r in rates], drawstyle="steps-post", color="tab:red", label="negative share")
    if rates:
        mean = sum(r * n for _, n, r in rates) / sum(n for _, n, _ in rates)
        ax.axhline(mean, ls="--", color="grey", label=f"overall {mean:.0%}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("negative share")
    ax.legend(loc="upper right")
    ax.set_title(title)
    axv.bar(xs, [n for _, n, _ in rates], width=1 / 1440, color="tab:blue")
    axv.set_ylabel("tweets/min")
    axv.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
