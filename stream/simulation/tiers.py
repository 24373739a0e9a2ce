"""Detectors measured on simulated brand weeks at four volume tiers (``badbuzz eval-alerts --tiers``).

For each tier (20, 200, 2,000, 20,000 tweets an hour on a topic) several simulated histories with episodes
and several clean ones are replayed minute by minute through three detectors fed the same counts: ours
(:mod:`badbuzz.stream.detection.detector`), the previous single-scale detector
(:mod:`badbuzz.stream.simulation.single_scale`) and a naive fixed threshold on the last hour's negative share.
Scored: recall of target episodes (and of all), time to detect, false alerts per week of clean stream,
episodes alerted more than once.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from badbuzz.stream.detection.baselines import TopicPrior
from badbuzz.stream.detection.detector import Detector, DetectorConfig
from badbuzz.stream.simulation.oracle_bound import target_bounds
from badbuzz.stream.simulation.simulation import FieldProfile, LabelNoise, SimEpisode, SimWeek, simulate

TIERS = (20, 200, 2000, 20000)
GRACE_MINUTES = 60
COVER_MINUTES = 30
COVER_AGE_MINUTES = 360


@dataclass(frozen=True)
class Fired:
    fired_at: datetime
    resolved_at: datetime | None = None
    signal: str = ""
    scale: int = 0


Runner = Callable[[Iterable[tuple[datetime, int, int]]], list[Fired]]


def _run_detector(make: Callable[[], Any]) -> Runner:
    """Feed counts to a fresh detector; one Fired per alert (closed by its resolution). Both detectors
    expose the same ``observe`` → ``transition`` / ``strongest`` interface."""
    def run(counts: Iterable[tuple[datetime, int, int]]) -> list[Fired]:
        det = make()
        out: list[Fired] = []
        for minute, n, k in counts:
            ev = det.observe(minute, n, k)
            if ev.transition == "firing":
                trig = ev.strongest
                out.append(Fired(minute + timedelta(minutes=1), None, getattr(trig, "signal", "share"), trig.minutes))
            elif ev.transition == "resolved" and out:
                last = out[-1]
                out[-1] = Fired(last.fired_at, minute + timedelta(minutes=1), last.signal, last.scale)
        return out
    return run


def run_ours(config: DetectorConfig, prior: TopicPrior | None = None) -> Runner:
    return _run_detector(lambda: Detector("topic", config, prior=prior))


def run_previous() -> Runner:
    from badbuzz.stream.simulation.single_scale import Detector as Previous
    from badbuzz.stream.simulation.single_scale import DetectorConfig as PreviousConfig

    return _run_detector(lambda: Previous("topic", PreviousConfig()))


def run_naive(threshold: float = 0.45, min_volume: int = 10, window: int = 60) -> Runner:
    """Alert when the last hour's negative share exceeds a fixed threshold (re-armed once it falls back)."""
    def run(counts: Iterable[tuple[datetime, int, int]]) -> list[Fired]:
        recent: list[tuple[int, int]] = []
        n_sum = k_sum = 0
        out: list[Fired] = []
        firing = False
        for minute, n, k in counts:
            recent.append((n, k))
            n_sum, k_sum = n_sum + n, k_sum + k
            if len(recent) > window:
                old_n, old_k = recent.pop(0)
                n_sum, k_sum = n_sum - old_n, k_sum - old_k
            high = n_sum >= min_volume and k_sum / n_sum > threshold
            if high and not firing:
                out.append(Fired(minute + timedelta(minutes=1), None, "share", window))
            elif not high and firing:
                out[-1] = Fired(out[-1].fired_at, minute + timedelta(minutes=1), "share", window)
            firing = high
        return out
    return run


@dataclass
class TierReport:
    episodes: int = 0
    detected: int = 0
    targets: int = 0
    targets_detected: int = 0
    ttd: list[float] = field(default_factory=list)  # minutes, target episodes
    false_alerts: int = 0
    clean_weeks: float = 0.0
    double: int = 0
    covered: int = 0  # target episodes detected by an alert already open when they began (no TTD)
    by_shape: dict[str, list[int]] = field(default_factory=dict)  # shape → [targets detected, targets]
    ttd_by_shape: dict[str, list[float]] = field(default_factory=dict)  # shape → minutes to detect its targets

    def target(self, shape: str) -> None:
        """One more target episode of this shape."""
        self.targets += 1
        self.by_shape.setdefault(shape, [0, 0])[1] += 1

    def found(self, shape: str, minutes: float | None) -> None:
        """A target of this shape found, ``minutes`` after its start (None: by an alert already open)."""
        self.targets_detected += 1
        self.by_shape.setdefault(shape, [0, 0])[0] += 1
        if minutes is None:
            self.covered += 1
        else:
            self.ttd.append(minutes)
            self.ttd_by_shape.setdefault(shape, []).append(minutes)

    def summary(self) -> dict[str, Any]:
        return {
            "recall_target": self.targets_detected / self.targets if self.targets else None,
            "recall_all": self.detected / self.episodes if self.episodes else None,
            "targets": self.targets, "episodes": self.episodes,
            "ttd_median_min": statistics.median(self.ttd) if self.ttd else None,
            "false_alerts_per_week": self.false_alerts / self.clean_weeks if self.clean_weeks else None,
            "double_alerts": self.double, "covered": self.covered,
        }


def score_episodes(week: SimWeek, alerts: Sequence[Fired], report: TierReport) -> None:
    """Match alerts to episodes (fired between start and end + grace); the rest are false alerts."""
    matched: set[int] = set()
    for ep in week.episodes:
        start = week.minute(ep.start)
        end = week.minute(ep.start + ep.minutes + GRACE_MINUTES)
        hits = [i for i, a in enumerate(alerts) if start <= a.fired_at <= end]
        report.episodes += 1
        report.by_shape.setdefault(ep.shape, [0, 0])
        if ep.target:
            report.target(ep.shape)
        if not hits:
            # an alert on the topic already open when the episode began, and still open half an hour into it
            # (say a surge at ten, a turn of tone at eleven): the team is on it, nobody is paged again. It counts
            # as found, without a time to detect; the alert itself is scored where it fired
            # ... if it fired within the last few hours: a rule that is always on covers nothing
            held = start + timedelta(minutes=min(ep.minutes, COVER_MINUTES))
            recent = start - timedelta(minutes=COVER_AGE_MINUTES)
            if any(recent <= a.fired_at < start and (a.resolved_at is None or a.resolved_at > held) for a in alerts):
                report.detected += 1
                if ep.target:
                    report.found(ep.shape, None)
            continue
        matched.update(hits)
        report.detected += 1
        report.double += int(len(hits) > 1)
        if ep.target:
            report.found(ep.shape, (alerts[hits[0]].fired_at - start).total_seconds() / 60)
    evaluated = [a for i, a in enumerate(alerts) if i not in matched and a.fired_at >= week.minute(week.eval_start)]
    report.false_alerts += len(evaluated)
    busy = sum(ep.minutes + GRACE_MINUTES for ep in week.episodes)
    report.clean_weeks += max(0, week.minutes - week.eval_start - busy) / (7 * 1440)


def score_bounds(week: SimWeek, field: FieldProfile, z: float, report: TierReport) -> None:
    """The oracle bound's finds and minutes to find (:mod:`~badbuzz.stream.simulation.oracle_bound`), as a report."""
    for b in target_bounds(week, field, grace=GRACE_MINUTES, z=z):
        report.target(b.episode.shape)
        if b.minutes is not None:
            report.found(b.episode.shape, b.minutes)


def bound_name(z: float) -> str:
    return f"oracle bound {z:g} sd"


def evaluate_tier(per_hour: float, runners: dict[str, Runner], *, seeds: Sequence[int], weeks: float,
                  noise: LabelNoise, progress: Callable[[], None] = lambda: None, base_share: float = 0.25,
                  field: FieldProfile | None = None, target_noise: LabelNoise | None = None,
                  warmup_days: float = 7.0, bounds: Sequence[float] = ()) -> dict[str, TierReport]:
    """Each runner on the same simulated histories (``field``: the calibrated profile, docs/alerting-calibration.md;
    ``target_noise``: the labels targets are decided on; ``warmup_days``: history before the scored days, 0.25
    for a cold start; ``bounds``: also the oracle bound at each of these z, as reports named by
    :func:`bound_name`, field profile only)."""
    reports = {name: TierReport() for name in runners}
    if bounds and field is None:
        raise ValueError("oracle bounds need the field profile (its dispersions)")
    reports.update({bound_name(z): TierReport() for z in bounds})
    for seed in seeds:
        for with_episodes in (True, False):
            week = simulate(per_hour, seed=seed * 2 + int(with_episodes), weeks=weeks, noise=noise,
                            with_episodes=with_episodes, base_share=base_share, field=field,
                            target_noise=target_noise, warmup_days=warmup_days)
            for name, run in runners.items():
                score_episodes(week, run(week.counts()), reports[name])
            if field is not None:
                for z in bounds:
                    score_bounds(week, field, z, reports[bound_name(z)])
            progress()
    return reports


def describe_episode(ep: SimEpisode) -> str:
    return f"{ep.shape} {ep.minutes // 60} h (z {ep.z:.1f})"


@dataclass(frozen=True)
class Cell:
    """One line of the tier tables, computed in a worker process (``measure_cell``)."""

    tier: float
    base_share: float
    seeds: tuple[int, ...]
    weeks: float
    noise: LabelNoise
    config: DetectorConfig
    field: FieldProfile | None = None
    target_noise: LabelNoise | None = None
    detectors: tuple[str, ...] = ("ours", "previous", "naive")
    cold_start_hours: float | None = None  # None: a week of history first; else this many hours, then 3 days
    borrow_prior: bool = False  # cold start: the new topic borrows the day shape of a mature one
    bounds: tuple[float, ...] = ()  # the oracle bound at these z beside the detectors (field profile)


COLD_DAYS = 3.0


def mature_prior(cell: Cell) -> TopicPrior | None:
    """The prior a new topic of the same brand would borrow: a mature topic's two weeks, learned."""
    week = simulate(cell.tier, seed=9_999, weeks=2.0, warmup_days=0.0, with_episodes=False, noise=cell.noise,
                    base_share=cell.base_share, field=cell.field)
    det = Detector("mature", cell.config)
    for minute, n, k in week.counts():
        det.observe(minute, n, k)
    return TopicPrior.pool([det.state.volume], [det.state.dispersion.phi], [det.state.share.hour_logit])


def measure_cell(cell: Cell) -> dict[str, TierReport]:
    """The reports of one (tier, base share) for each detector; picklable in and out (process pools)."""
    prior = mature_prior(cell) if cell.borrow_prior else None
    every: dict[str, Callable[[], Runner]] = {"ours": lambda: run_ours(cell.config, prior),
                                              "previous": run_previous, "naive": run_naive}
    runners = {name: every[name]() for name in cell.detectors}
    if cell.cold_start_hours is None:
        return evaluate_tier(cell.tier, runners, seeds=cell.seeds, weeks=cell.weeks, noise=cell.noise,
                             base_share=cell.base_share, field=cell.field, target_noise=cell.target_noise,
                             bounds=cell.bounds)
    warmup = cell.cold_start_hours / 24
    # three scored days after the short history (give it more seeds: three days hold few episodes)
    return evaluate_tier(cell.tier, runners, seeds=cell.seeds, weeks=(warmup + COLD_DAYS) / 7, noise=cell.noise,
                         base_share=cell.base_share, field=cell.field, target_noise=cell.target_noise,
                         warmup_days=warmup)
