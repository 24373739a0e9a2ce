"""Issue 28's real-week protocol replayed on simulated airline weeks, where the truth behind each episode is known.

The held-out real week (six airlines, 3–25 tweets an hour each, baseline negative shares 0.38–0.78) scores a
detector against episodes defined by a rule on the human labels alone: a 3-hour window whose negative share
rose at least 1.3 times and 10 points over the airline's previous 48 hours, or whose negative count reached 20
and at least twice the same window on the two previous days. The rule is an effect size, not a test: at a
few tweets an hour a window of nine tweets can clear it by chance.

Replaying the same protocol on the calibrated simulator (:class:`FieldProfile`) answers two questions the
real week cannot: how many of the rule's episodes are chance windows of an ordinary week (the simulator knows
which windows overlap a simulated event), and what a detector's score on the real week says about it. The
detector starts cold at the week's first minute, as ``badbuzz backtest`` on the real week did.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from badbuzz.stream.detection.detector import Detector, DetectorConfig
from badbuzz.stream.simulation.simulation import FieldProfile, LabelNoise, SimWeek, simulate

# (tweets an hour, true baseline negative share): the real week's spread, three airlines above 0.69
AIRLINES: tuple[tuple[float, float], ...] = ((3, 0.78), (8, 0.70), (12, 0.72), (15, 0.50), (20, 0.45), (25, 0.38))
TRUE_LABELS = LabelNoise(tpr=1.0, fpr=0.0)
GRACE_MINUTES = 60
SETTLE_MINUTES = 48 * 60  # the real week counts alerts outside episodes after its first 48 hours


@dataclass(frozen=True)
class TruthRule:
    """The real week's episode rule (issue 28). Windows are clock-aligned (00:00–03:00, 03:00–06:00, ...)."""

    window_minutes: int = 180
    history_minutes: int = 48 * 60
    share_ratio: float = 1.3
    share_points: float = 0.10
    count_min: int = 20
    count_ratio: float = 2.0

    def holds(self, n: float, k: float, history_n: float, history_k: float, same_window_before: float) -> bool:
        """Whether a window of ``n`` tweets, ``k`` negative, is an episode against its history: the previous
        48 h (``history_n``, ``history_k``) and the mean negatives of the same window on the two days before."""
        if n > 0 and history_n > 0:
            share, usual = k / n, history_k / history_n
            if share >= self.share_ratio * usual and share - usual >= self.share_points:
                return True
        return k >= self.count_min and k >= self.count_ratio * same_window_before


def rule_episodes(n: np.ndarray, k: np.ndarray, rule: TruthRule = TruthRule()) -> list[tuple[int, int]]:
    """(start, end) minutes of the episodes the rule finds in per-minute counts: the clock-aligned windows that
    meet it, once 48 h of history exist, consecutive windows merged into one episode."""
    w = rule.window_minutes
    blocks = len(n) // w
    per_day = 1440 // w
    history = rule.history_minutes // w
    wn = np.asarray(n[: blocks * w], dtype=float).reshape(blocks, w).sum(axis=1)
    wk = np.asarray(k[: blocks * w], dtype=float).reshape(blocks, w).sum(axis=1)
    out: list[tuple[int, int]] = []
    for b in range(max(history, 2 * per_day), blocks):
        before = (wk[b - per_day] + wk[b - 2 * per_day]) / 2
        if not rule.holds(wn[b], wk[b], wn[b - history:b].sum(), wk[b - history:b].sum(), before):
            continue
        if out and out[-1][1] == b * w:
            out[-1] = (out[-1][0], (b + 1) * w)
        else:
            out.append((b * w, (b + 1) * w))
    return out


def rule_alerts(n: np.ndarray, k: np.ndarray, rule: TruthRule = TruthRule(), step: int = 15) -> list[int]:
    """The rule used as a detector: every ``step`` minutes on the trailing window (no clock to align to in a
    live stream), an alert when it starts to hold. Minutes at which each alert fires."""
    cn = np.concatenate([[0.0], np.cumsum(n, dtype=float)])
    ck = np.concatenate([[0.0], np.cumsum(k, dtype=float)])
    w, hist = rule.window_minutes, rule.history_minutes
    out: list[int] = []
    on = False

    def negatives(end: int) -> float:  # in the window that ends at minute ``end``
        return float(ck[end] - ck[end - w])

    for t in range(hist + w, len(n) + 1, step):
        before = (negatives(t - 1440) + negatives(t - 2880)) / 2 if t >= 2880 + w else np.inf
        hit = rule.holds(cn[t] - cn[t - w], negatives(t), cn[t - w] - cn[t - w - hist],
                         ck[t - w] - ck[t - w - hist], before)
        if hit and not on:
            out.append(t)
        on = hit
    return out


def detector_alerts(week: SimWeek, config: DetectorConfig) -> list[int]:
    """Minutes at which our detector fires on the week, starting cold."""
    det = Detector("airline", config)
    return [i + 1 for i, (minute, n, k) in enumerate(week.counts()) if det.observe(minute, n, k).transition == "firing"]


@dataclass
class WeekScore:
    """Episodes found, alerts outside them and times to detect; episodes split by whether they overlap an event
    the simulator put there (an injected episode or a surge) or are chance windows of an ordinary week."""

    weeks: int = 0
    episodes: int = 0
    found: int = 0
    outside: int = 0
    ttd: list[float] = field(default_factory=list)
    event_episodes: int = 0
    event_found: int = 0

    def merge(self, other: WeekScore) -> None:
        self.weeks += other.weeks
        self.episodes += other.episodes
        self.found += other.found
        self.outside += other.outside
        self.ttd += other.ttd
        self.event_episodes += other.event_episodes
        self.event_found += other.event_found

    @property
    def chance_episodes(self) -> int:
        return self.episodes - self.event_episodes

    @property
    def chance_found(self) -> int:
        return self.found - self.event_found

    @property
    def median_ttd(self) -> float | None:
        return statistics.median(self.ttd) if self.ttd else None


def score_week(episodes: Sequence[tuple[int, int]], fired: Sequence[int],
               events: Sequence[tuple[int, int]]) -> WeekScore:
    """An alert finds an episode when it fires between its start and an hour after its end; alerts that find
    none, after the first 48 h, are outside episodes. ``events``: (start, end) of what the simulator put there."""
    score = WeekScore(weeks=1, episodes=len(episodes))
    used: set[int] = set()
    for start, end in episodes:
        event = any(s < end and start < e for s, e in events)
        score.event_episodes += int(event)
        hits = [t for t in fired if start <= t <= end + GRACE_MINUTES]
        if hits:
            score.found += 1
            score.event_found += int(event)
            score.ttd.append(float(hits[0] - start))
            used.update(hits)
    score.outside = sum(1 for t in fired if t not in used and t >= SETTLE_MINUTES)
    return score


DETECTORS = ("ours", "rule")


SERVED_LABELS = LabelNoise()
FIELD = FieldProfile()


def airline_week(seed: int, config: DetectorConfig, with_episodes: bool, served: LabelNoise = SERVED_LABELS,
                 profile: FieldProfile = FIELD) -> dict[tuple[str, str], WeekScore]:
    """One simulated week of the six airlines: truth from the rule on true labels; each detector fed the true
    ("human") and the served model's labels. Keys: (labels, detector)."""
    out = {(labels, det): WeekScore() for labels in ("human", "served") for det in DETECTORS}
    for j, (per_hour, share) in enumerate(AIRLINES):
        run_seed = seed * 100 + 2 * j + int(with_episodes)
        # the same seed draws the same tweets and true labels; only the served model's labels differ
        truth, seen = (simulate(per_hour, seed=run_seed, weeks=1.0, warmup_days=2.0, noise=noise,
                                with_episodes=with_episodes, base_share=share, field=profile)
                       for noise in (TRUE_LABELS, served))
        episodes = rule_episodes(truth.n, truth.k)
        events = [(ep.start, ep.start + ep.minutes) for ep in truth.episodes]
        for labels, week in (("human", truth), ("served", seen)):
            out[(labels, "ours")].merge(score_week(episodes, detector_alerts(week, config), events))
            out[(labels, "rule")].merge(score_week(episodes, rule_alerts(week.n, week.k), events))
    for score in out.values():
        score.weeks = 1  # one week of six airlines
    return out
