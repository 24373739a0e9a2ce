"""``badbuzz eval-alerts --tiers``: the alert tables of docs/alerting.md, on the simulator calibrated to the field.

Every number comes from :func:`badbuzz.stream.simulation.tiers.measure_cell` on the field profile
(:class:`~badbuzz.stream.simulation.simulation.FieldProfile`, docs/alerting-calibration.md), one cell per volume
tier and brand baseline negativity, in parallel on every core:

- the tier tables: ours vs the previous single-scale detector vs a naive threshold, served-model labels;
- what the counts allow: ours against an oracle told when each target starts (``oracle_bound.py``), the bound
  on recall and time to detect that no detector keeping quiet outside episodes can beat;
- the cold-start table: ours with six hours of history, alone and with the prior it borrows from a mature
  topic of the same deployment;
- the model's part: ours on the same episodes (targets decided on true labels), fed true labels and fed the
  served model's, and the recall the model's errors cost;
- one timeline per baseline negativity, a simulated week as a person would look at it, with alerts marked.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from badbuzz.services.tools.plots import legend_once, save_figure
from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.detection.significance import normal_sf
from badbuzz.stream.simulation.oracle_bound import BOUND_Z
from badbuzz.stream.simulation.simulation import FieldProfile, LabelNoise, SimWeek, simulate
from badbuzz.stream.simulation.tiers import TIERS, Cell, Fired, TierReport, bound_name, measure_cell, run_ours

SHARES = (0.25, 0.5, 0.75)
BOUNDS = (BOUND_Z, 3.0)  # the oracle bound at about one of our windows' bar, and at a looser one
TRUE_LABELS = LabelNoise(tpr=1.0, fpr=0.0)
COLD_START_HOURS = 6.0


def _fmt(value: Any, pct: bool) -> str:
    if value is None:
        return "–"
    return f"{value:.0%}" if pct else f"{value:.1f}" if isinstance(value, float) else str(value)


def _run(cells: Sequence[Cell], desc: str, jobs: int) -> list[dict[str, TierReport]]:
    with ProcessPoolExecutor(jobs) as pool:
        return list(tqdm(pool.map(measure_cell, cells), total=len(cells), desc=desc, unit="cell"))


def _covered(r: TierReport) -> str:
    return f", {r.covered} already open" if r.covered else ""


def tier_rows(cells: Sequence[Cell], results: Sequence[dict[str, TierReport]]) -> list[str]:
    rows = []
    bounds = {bound_name(z) for z in BOUNDS}
    for cell, reports in zip(cells, results, strict=True):
        for name, r in reports.items():
            if name in bounds:
                continue
            s = r.summary()
            rows.append(f"| {cell.tier:,.0f}/h | {cell.base_share:.0%} | {name} | {_fmt(s['recall_target'], True)} "
                        f"({r.targets_detected}/{r.targets}{_covered(r)}) | {_fmt(s['recall_all'], True)} | "
                        f"{_fmt(s['ttd_median_min'], False)} | {_fmt(s['false_alerts_per_week'], False)} | "
                        f"{s['double_alerts']} |")
    return rows


SHAPE_ORDER = ("surge", "volume", "share", "night", "buildup")


def bound_rows(cells: Sequence[Cell], results: Sequence[dict[str, TierReport]]) -> list[str]:
    """Ours against the oracle bound at each z: targets found and median minutes to find them."""
    rows = []
    for cell, reports in zip(cells, results, strict=True):
        parts = []
        for name in [bound_name(z) for z in BOUNDS] + ["ours"]:
            s = reports[name].summary()
            parts.append(f"{_fmt(s['recall_target'], True)} | {_fmt(s['ttd_median_min'], False)}")
        head = f"| {cell.tier:,.0f}/h | {cell.base_share:.0%} | {reports['ours'].targets} | "
        rows.append(head + " | ".join(parts) + " |")
    return rows


def ttd_rows(cells: Sequence[Cell], results: Sequence[dict[str, TierReport]]) -> list[str]:
    """Median minutes to detect per episode shape (ours): a build-up that takes six hours to double the share
    cannot be found in three minutes, and the overall median hides which shapes are fast."""
    rows = []
    for cell, reports in zip(cells, results, strict=True):
        r = reports.get("ours")
        if r is None:
            continue
        parts = []
        for shape in SHAPE_ORDER:
            times = r.ttd_by_shape.get(shape, [])
            parts.append(f"{statistics.median(times):.1f} ({len(times)})" if times else "–")
        rows.append(f"| {cell.tier:,.0f}/h | {cell.base_share:.0%} | " + " | ".join(parts) + " |")
    return rows


def timeline(path: Path, week: SimWeek, alerts: Sequence[Fired], title: str) -> Path:
    """Hourly tweets, negatives and negative share of a simulated history; episodes shaded by kind (bad buzz
    in red, surge in orange), mention spikes in blue, alerts as vertical lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    h0, hours = week.eval_start // 60, week.minutes // 60
    n = week.n[h0 * 60: hours * 60].reshape(hours - h0, 60).sum(axis=1)
    k = week.k[h0 * 60: hours * 60].reshape(hours - h0, 60).sum(axis=1)
    xs = [week.origin + timedelta(hours=h) for h in range(h0, hours)]
    share = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True)
    ax1.bar(xs, n, width=1 / 24, color="#c8c8c8", label="tweets / hour", align="edge")
    ax1.bar(xs, k, width=1 / 24, color="tab:red", label="negative (served model) / hour", align="edge")
    ax1.set_ylabel("per hour")
    ax2.plot(xs, share, drawstyle="steps-post", color="tab:red", lw=0.8, label="negative share (hour)")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("negative share")
    for ax in (ax1, ax2):
        for ep in (e for e in week.episodes if e.start >= week.eval_start):
            start = week.minute(ep.start)
            color = "tab:orange" if ep.shape == "surge" else "tab:red"
            ax.axvspan(start, start + timedelta(minutes=ep.minutes), color=color, alpha=0.12,
                       label="surge (truth)" if ep.shape == "surge" else "bad buzz (truth)")
        if week.hour_kind is not None:
            for h in np.flatnonzero(week.hour_kind[h0:hours] == 2):
                ax.axvspan(xs[h], xs[h] + timedelta(hours=1), color="tab:blue", alpha=0.12, label="mention spike")
        for a in (a for a in alerts if a.fired_at >= xs[0]):
            ax.axvline(a.fired_at, color="black", lw=1, ls="--", label="alert fired")
        legend_once(ax, fontsize=7, ncol=3)
    return save_figure(fig, path, title, dpi=72)


def write_field_report(path: Path, *, seeds: Sequence[int], weeks: float, noise: LabelNoise, source: str,
                       config: DetectorConfig, tiers: Sequence[int] = TIERS, jobs: int | None = None,
                       cold_seeds: Sequence[int] = tuple(range(1, 11)), plot_tier: float = 20.0) -> str:
    """Measure everything and write the report (and its plots beside it, under ``images/``)."""
    jobs = jobs or os.cpu_count() or 1
    field = FieldProfile()
    base = Cell(0, 0.25, tuple(seeds), weeks, noise, config, field)
    main = [replace(base, tier=t, base_share=s, bounds=BOUNDS) for t in tiers for s in SHARES]
    main_res = _run(main, "tiers", jobs)
    cold = [replace(c, detectors=("ours",), seeds=tuple(cold_seeds), cold_start_hours=COLD_START_HOURS,
                    borrow_prior=prior, bounds=()) for c in main for prior in (False, True)]
    cold_res = _run(cold, "cold starts", jobs)
    served = [replace(c, detectors=("ours",), target_noise=TRUE_LABELS, bounds=()) for c in main]
    perfect = [replace(c, noise=TRUE_LABELS) for c in served]
    model_res = _run(served + perfect, "model's part", jobs)
    images = path.parent / "images"
    plots = []
    for share in SHARES:
        week = simulate(plot_tier, seed=7, weeks=2.0, warmup_days=7.0, base_share=share, noise=noise, field=field)
        alerts = run_ours(config)(week.counts())
        name = f"alerting-timeline-{round(share * 100)}.png"
        timeline(images / name, week, alerts, f"{plot_tier:g} tweets/h, brand at {share:.0%} negative: the "
                                              f"second week (after a week's warm-up), alerts marked")
        plots.append((share, name))

    bound_header = ("| tier | base share | targets | " + " | ".join(
        f"oracle {z:g} sd: found | its median minutes" for z in BOUNDS) + " | ours: found | median TTD |\n"
        "| ---: | ---: | ---: | " + " | ".join("---: | ---:" for _ in BOUNDS) + " | ---: | ---: |")
    header = ("| tier | base share | detector | target recall | all recall | median TTD (min) | false alerts / "
              "topic-week | double |\n| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    cold_rows = []
    for i in range(0, len(cold), 2):
        c = cold[i]
        alone, borrowed = cold_res[i]["ours"].summary(), cold_res[i + 1]["ours"].summary()
        r0, r1 = cold_res[i]["ours"], cold_res[i + 1]["ours"]
        cold_rows.append(f"| {c.tier:,.0f}/h | {c.base_share:.0%} | {_fmt(alone['recall_target'], True)} "
                         f"({r0.targets_detected}/{r0.targets}{_covered(r0)}) | "
                         f"{_fmt(alone['false_alerts_per_week'], False)} | {_fmt(borrowed['recall_target'], True)} "
                         f"({r1.targets_detected}/{r1.targets}{_covered(r1)}) | "
                         f"{_fmt(borrowed['false_alerts_per_week'], False)} |")
    model_rows = []
    for i, c in enumerate(served):
        s, p = model_res[i]["ours"], model_res[len(served) + i]["ours"]
        rs, rp = s.summary()["recall_target"], p.summary()["recall_target"]
        kept = rs / rp if rs is not None and rp else None
        model_rows.append(f"| {c.tier:,.0f}/h | {c.base_share:.0%} | {p.targets} | {_fmt(rp, True)} | "
                          f"{_fmt(rs, True)} | {_fmt(kept, True)} | {_fmt(p.summary()['false_alerts_per_week'], False)}"
                          f" | {_fmt(s.summary()['false_alerts_per_week'], False)} |")
    text = f"""# Alerting: measured on field-like brand weeks

Command: `badbuzz eval-alerts --tiers --seeds {' '.join(map(str, seeds))} --weeks {weeks:g}` (run
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {jobs} cores).

## The simulated weeks

`stream/simulation/simulation.py` with the field profile, calibrated to a real airline week
(docs/alerting-calibration.md has the calibration table, simulator against field):

- a day whose busiest hour carries 15 times its quietest, quieter weekends;
- over-dispersed hourly volume (gamma, shape 6);
- self-exciting volume jumps (×3–6). Half are *surges* at the usual share: complaints in volume, scored as
  episodes, as the field's own truth rule counts them. Half are *mention spikes*: the extra tweets are not
  complaints, so the share falls. They are not episodes, and a paged alert there is a false alert;
- an hour's negative share varying φ = 1.8 times the binomial at every volume;
- brands at 25 %, 50 % and 75 % negative;
- tweets labelled as the served model labels them: negative recall {noise.tpr:.0%}, false-negative-label
  rate {noise.fpr:.0%} ({source}).

For each tier and seed: one {weeks:g}-week history with episodes and one without, each with a first week of
warm-up.

Episodes (after the warm-up):

- **share**: ×1.5–2 for 1, 3 or 6 h;
- **volume**: three times the tweets with the share up 10 points, for 1–3 h;
- **buildup**: the share rising to ×2 over 6 h;
- **night**: share ×2 and volume ×2 for 2 h after midnight;
- **surge**: the jumps above.

Scoring:

- A *target* is an episode an oracle who knew its start and end would see at 5 standard deviations, with the
  profile's over-dispersion.
- An alert detects an episode when it fires between its start and one hour after its end.
- Every other alert is false. False alerts are counted per week of stream outside episodes.

Targets (issue 28): recall ≥ 90 % of target episodes at every tier and baseline; ≤ 1 false alert per
topic-week; median time to detect ≤ 45 min at ≤ 200/h and ≤ 3 min at ≥ 2,000/h; no double alerts; with six
hours of history, recall ≥ 70 % at the same false-alarm bound; with the served model's labels, ≥ 90 % of the
recall true labels give.

## Ours against the previous detector and a naive rule

- **ours**: `stream/detection/detector.py`, windows of {', '.join(str(s) for s in config.scales)} minutes. It runs
  a quasi-binomial share test (φ learned per topic) and a negative-binomial volume test (over-dispersion
  learned per topic). Volume fires only when the share is not below its usual; a mention spike (more tweets,
  a share well below the usual) teaches the baselines nothing. An alert stays open at least
  {config.keep_firing_minutes} minutes and resolves when the share's odds fall under
  ×{config.resolve_odds_ratio:g} the usual.
- **previous**: the single-scale detector (2 and 5 minute windows, binomial share test).
- **naive**: alert while the last hour's negative share is above 45 %.

{header}
{chr(10).join(tier_rows(main, main_res))}

"n already open": target episodes that began while an alert on the topic, fired in the six hours before, was
still open half an hour later (a surge at ten, the tone turning at eleven). The team is already on the topic
and nobody is paged again; they count as found, without a time to detect, and the open alert is scored where it
fired.

### Time to detect, by shape (ours; median minutes, episodes found in brackets)

| tier | base share | {' | '.join(SHAPE_ORDER)} |
| ---: | ---: | {' | '.join('---:' for _ in SHAPE_ORDER)} |
{chr(10).join(ttd_rows(main, main_res))}

A build-up doubles the share over six hours: its first hour is a rise of a sixth, inside an hour's own noise,
so it is found in hours at any volume. A volume jump at the usual share (surge) or three times the tweets
(volume) is as large as the field's own busiest hours (an hour's volume varies ±40 %, and 0.6–5 % of real
hours exceed three times their mean): a two-minute window cannot tell it from one, and it is found when the
share moves too or the jump lasts.

## What the counts allow: an oracle that knows when each episode starts

A target is an episode an oracle who knew its start and end would see at 5 standard deviations *on
expectation*. The tweets a history then draws show each one weaker or stronger, and a detector only sees those.
`stream/simulation/oracle_bound.py` replays every target of the table above on the very counts our detector was
fed, as the best any detector could do: it is told the minute the episode starts and the brand's true usual
volume and share (nothing to learn), and from that minute on it tests the growing window every minute, until an
hour after the end, on the share (exact binomial at the profile's φ) and on the negative volume (exact negative
binomial at the profile's hour-to-hour dispersion). It cannot raise a false alarm only because it is told the
start, so its recall and minutes are bounds, not a competitor. At {BOUNDS[0]:g} standard deviations (one-sided
p {normal_sf(BOUNDS[0]):.1e}) its bar is about the one each of our hour-long windows gets
from the weekly budget; at {BOUNDS[1]:g} it is looser than any of ours.

{bound_header}
{chr(10).join(bound_rows(main, main_res))}

Medians are over the episodes each one found, so a detector that finds fewer, stronger episodes can show a
shorter median than the bound. Where the bound misses targets at {BOUNDS[0]:g} sd, or needs more than the issue's
minutes (45 at ≤ 200/h, 3 at ≥ 2,000/h), a detector held to about that bar cannot meet the target on these
histories, since it is not told when an episode starts; where even the {BOUNDS[1]:g} sd bound misses it, the target
asks for more than the counts hold at any bar that keeps a week quiet. The episode mix (a share ×1.5 turning
over hours, a six-hour build-up) holds targets that the counts themselves reveal only slowly.

## Cold start: six hours of history

A topic that starts six hours before three scored days ({len(cold_seeds)} seeds, each with one history with
episodes and one without). It runs alone, or borrowing the day shape, volume dispersion and φ of a mature
topic of the same deployment (`TopicPrior`: what the live alerter gives a new topic), and the daily swing of
its share. A deployment can
instead seed baselines from history: `badbuzz backtest FILE --seed-baselines`. An hour of the day learned from
one or two days is taken as that many days' levels, not as a known fact: the volume test widens by the young
profile's error (`VolumeBaseline.uncertainty`), which is what kept a busy new topic from paging on hours twice
their one-day estimate. The share test does the same for the daily swing of the share: an hour of the day whose
offset has not been learned yet counts as unknown by `share_swing_logit` (0.1 log-odds, shrinking by (1 - w)^2
for each day the hour is learned at weight w). Without it a busy brand's first morning paged: at 20,000 tweets
an hour on a 75 % brand, alone, 5.9 false alerts a week (47 of 49 of them morning share tests); with it 0.9.
An hour of the day never seen at all, without a borrowed day shape, is compared with the recent level at a
relative variance of 0.6 (±77 %; it was 0.25): a topic started at night met its first morning with the night's
level, and at 2,000 tweets an hour paged 1.1-1.3 times a week on 2- and 5-minute windows at 6x that level.

| tier | base share | recall alone | false alerts / week alone | recall with the prior | false alerts / week with it |
| ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(cold_rows)}

## The model's part

The same episodes, targets decided on true labels. The detector is fed true labels, then the served model's
labels ({noise.tpr:.0%} negative recall, {noise.fpr:.0%} false negatives). "Kept" is the served recall over
the true-label recall. Issue 28 asks for ≥ 90 %.

| tier | base share | targets | recall, true | recall, served | kept | false / week, true | false / week, served |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(model_rows)}

## The real week's own protocol

Issue 28 scored a held-out real week against episodes from an effect-size rule on human labels (a 3-hour
window's share ≥ 1.3× and ≥ 10 points over the previous 48 h, or ≥ 20 negatives and twice the same window on
the two days before). docs/alerting-field-week.md replays that protocol on simulated weeks of six airlines
shaped like the real ones (`python bench/field_week.py`): how many of the rule's episodes are chance windows at
3–25 tweets an hour, what the rule itself scores when run as a detector, and how our detector's score there
compares with the real week's.

## Timelines

One simulated history per baseline negativity at {plot_tier:g} tweets an hour (a brand's scale: the real
week ran 3–25 an hour per airline):

- the second week, after a week's warm-up;
- truth shaded: bad buzz in red, surges in orange, mention spikes in blue;
- alerts as dashed lines.

""" + "\n".join(f"![{share:.0%} negative brand](images/{name})\n" for share, name in plots)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text
