"""Plots a person would rather look at than read: negative-rate timelines with alerts marked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

MinuteRate = tuple[datetime, int, float]


def plot_timelines(
    rates: dict[str, list[MinuteRate]],
    path: Path,
    title: str,
    alerts: Sequence[tuple[str, datetime, datetime | None]] = (),
    episodes: Sequence[tuple[str, datetime, datetime]] = (),
) -> Path:
    """One panel per topic: negative share per minute, alerts shaded red, injected episodes marked grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    topics = sorted(rates, key=lambda t: (t != "all", t))
    fig, axes = plt.subplots(len(topics), 1, figsize=(11, 2.3 * len(topics) + 0.8), sharex=True, squeeze=False)
    end = max((m for series in rates.values() for m, _, _ in series), default=None)
    for ax, topic in zip(axes[:, 0], topics, strict=True):
        series = rates[topic]
        ax.plot([m for m, _, _ in series], [r for _, _, r in series], drawstyle="steps-post", lw=0.9,
                color="tab:red", label="negative share")
        for t, start, stop in episodes:
            if t == topic:
                ax.axvspan(start, stop, color="grey", alpha=0.25, label="injected episode")
        for t, fired, resolved in alerts:
            if t == topic:
                ax.axvspan(fired, resolved or end or fired, color="tab:red", alpha=0.18, label="alert firing")
                ax.axvline(fired, color="tab:red", lw=1.5)
        ax.set_ylim(0, 1)
        ax.set_ylabel(topic)
        legend_once(ax, fontsize=8)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    axes[-1, 0].set_xlabel("stream time (UTC)")
    return save_figure(fig, path, title, dpi=110)


def legend_once(ax: Any, **kwargs: Any) -> None:
    """A legend with each label once (spans and lines drawn in a loop repeat their label)."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper left", **kwargs)


def save_figure(fig: Any, path: Path, title: str, dpi: int) -> Path:
    """Title, lay out, write (creating the folder) and close a figure; returns ``path``."""
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def rates_from_rollups(rollups: Sequence[tuple[str, datetime, int, int]]) -> dict[str, list[MinuteRate]]:
    out: dict[str, list[MinuteRate]] = {}
    for topic, minute, n, k in sorted(rollups):
        out.setdefault(topic, []).append((minute, n, k / n if n else 0.0))
    return out
