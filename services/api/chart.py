"""The live page's timeline, drawn on the server as SVG: negative share per step, the usual share, volume bars,
and each alert as a shaded band from firing to resolution.

Why on the server: no chart library to vendor or build, the picture is the same in every browser (and in
the tests, which read it as XML), and the page stays a template plus a few lines of script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from badbuzz.services.api.queries import Bucket


@dataclass(frozen=True)
class Band:
    """An alert on the timeline: [fired_at, resolved_at or the chart's end)."""

    alert_id: str
    fired_at: datetime
    resolved_at: datetime | None


W, H = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


def timeline_svg(points: Sequence[Bucket], bands: Sequence[Band], start: datetime, end: datetime,
                 step: timedelta, baseline: float | None = None, title: str = "") -> str:
    """An SVG (as text) of ``points`` between ``start`` and ``end``; ``step`` is the width of one point."""
    span = max((end - start).total_seconds(), 1.0)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(ts: datetime) -> float:
        return LEFT + plot_w * min(max((ts - start).total_seconds() / span, 0.0), 1.0)

    def y(share: float) -> float:
        return TOP + plot_h * (1 - min(max(share, 0.0), 1.0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" class="timeline" '
           f'aria-label="{escape(title or "negative share over time")}">']
    out.append(f"<title>{escape(title or 'negative share over time')}</title>")
    for b in bands:  # alerts first, under everything else
        x0, x1 = x(b.fired_at), x(b.resolved_at or end)
        state = "resolved" if b.resolved_at else "firing"
        out.append(f'<rect class="alert-band {state}" data-alert-id="{escape(b.alert_id)}" x="{x0:.1f}" y="{TOP}" '
                   f'width="{max(x1 - x0, 2):.1f}" height="{plot_h}"><title>alert {escape(b.alert_id)} '
                   f'({state})</title></rect>')
    peak = max((p.tweets for p in points), default=0)
    bar_w = max(plot_w * step.total_seconds() / span - 1, 1)
    for p in points:  # volume, scaled to the lower third
        if p.tweets:
            h = plot_h / 3 * p.tweets / peak
            out.append(f'<rect class="volume" x="{x(p.start):.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                       f'height="{h:.1f}"/>')
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):  # share axis
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(frac):.1f}" y2="{y(frac):.1f}"/>'
                   f'<text class="axis" x="{LEFT - 6}" y="{y(frac) + 4:.1f}" text-anchor="end">{frac:.0%}</text>')
    for i in range(5):  # time axis
        ts = start + (end - start) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"  # the ends stay inside the picture
        out.append(f'<text class="axis" x="{x(ts):.1f}" y="{H - 8}" text-anchor="{anchor}">{ts:%H:%M}</text>')
    if baseline is not None:
        out.append(f'<line class="baseline" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(baseline):.1f}" '
                   f'y2="{y(baseline):.1f}"><title>usual share {baseline:.0%}</title></line>')
    segments: list[list[str]] = [[]]
    for p in points:  # a gap (no tweets) breaks the line rather than drawing through zero
        share = p.share
        if share is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(p.start + step / 2):.1f},{y(share):.1f}")
    for seg in segments:
        if seg:
            out.append(f'<polyline class="share" points="{" ".join(seg)}"/>')
    out.append("</svg>")
    return "".join(out)
