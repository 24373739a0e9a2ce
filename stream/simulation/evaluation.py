"""Scoring alerts against a scenario's ground truth, and the offline simulation used to tune the detector.

An alert *detects* an episode when it fires on the episode's topic between the episode's start and its
end plus a grace period. Reported: recall by episode size, time-to-detect (stream minutes), false alerts
per simulated day of clean stream, and episodes alerted more than once.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from badbuzz.stream.detection.aggregation import minute_of
from badbuzz.stream.detection.detector import Detector, DetectorConfig
from badbuzz.stream.simulation.scenario import Episode, Scenario, StreamTweet

GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class AlertRecord:
    topic: str
    fired_at: datetime
    resolved_at: datetime | None = None


def is_target(ep: Episode) -> bool:
    """The issue's class: at least doubles the negative rate, for ≥ 10 minutes, at ≥ 30 tweets/minute."""
    return ep.multiplier >= 2.0 and ep.minutes >= 10 and ep.per_minute >= 30


@dataclass
class EvalReport:
    episodes: int = 0
    detected: int = 0
    target_episodes: int = 0
    target_detected: int = 0
    ttd_minutes: list[float] = field(default_factory=list)
    target_ttd_minutes: list[float] = field(default_factory=list)
    false_alerts: int = 0
    clean_days: float = 0.0
    double_alerts: int = 0
    flaps: int = 0
    by_size: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def merge(self, other: EvalReport) -> None:
        for name in ("episodes", "detected", "target_episodes", "target_detected", "false_alerts", "double_alerts",
                     "flaps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.clean_days += other.clean_days
        self.ttd_minutes += other.ttd_minutes
        self.target_ttd_minutes += other.target_ttd_minutes
        for k, (d, n) in other.by_size.items():
            self.by_size[k][0] += d
            self.by_size[k][1] += n

    def summary(self) -> dict[str, float | int | None]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            s = sorted(values)
            return s[min(len(s) - 1, int(q * len(s)))]

        return {
            "episodes": self.episodes,
            "recall_all": self.detected / self.episodes if self.episodes else None,
            "target_episodes": self.target_episodes,
            "recall_target": self.target_detected / self.target_episodes if self.target_episodes else None,
            "ttd_median_min": statistics.median(self.ttd_minutes) if self.ttd_minutes else None,
            "ttd_p90_min": pct(self.ttd_minutes, 0.9),
            "target_ttd_median_min": statistics.median(self.target_ttd_minutes) if self.target_ttd_minutes else None,
            "false_alerts_per_day": self.false_alerts / self.clean_days if self.clean_days else None,
            "episodes_alerted_twice": self.double_alerts,
            "flaps": self.flaps,
        }


def score(episodes: Sequence[Episode], origin: datetime, minutes: int, alerts: Iterable[AlertRecord]) -> EvalReport:
    report = EvalReport(episodes=len(episodes))
    alerts = sorted(alerts, key=lambda a: a.fired_at)
    matched: set[int] = set()
    for ep in episodes:
        start, end = ep.start(origin), ep.end(origin) + GRACE
        hits = [i for i, a in enumerate(alerts) if a.topic == ep.topic and start <= a.fired_at <= end]
        key = f"×{ep.multiplier:g}, {ep.per_minute:g}/min, {ep.minutes} min"
        report.by_size[key][1] += 1
        if is_target(ep):
            report.target_episodes += 1
        if not hits:
            continue
        matched.update(hits)
        report.detected += 1
        report.by_size[key][0] += 1
        ttd = (alerts[hits[0]].fired_at - start).total_seconds() / 60
        report.ttd_minutes.append(ttd)
        if is_target(ep):
            report.target_detected += 1
            report.target_ttd_minutes.append(ttd)
        if len(hits) > 1:
            report.double_alerts += 1
    report.false_alerts = sum(1 for i in range(len(alerts)) if i not in matched)
    report.flaps = count_flaps(alerts)
    episode_minutes = sum(ep.minutes + GRACE.total_seconds() / 60 for ep in episodes)
    report.clean_days = max(0.0, minutes - episode_minutes) / 1440
    return report


FLAP_WINDOW = timedelta(minutes=30)


def count_flaps(alerts: Sequence[AlertRecord]) -> int:
    """Alerts that fire again on a topic within 30 minutes of that topic's previous alert resolving."""
    flaps = 0
    last_resolved: dict[str, datetime] = {}
    for a in sorted(alerts, key=lambda a: a.fired_at):
        prev = last_resolved.get(a.topic)
        if prev is not None and a.fired_at - prev <= FLAP_WINDOW:
            flaps += 1
        if a.resolved_at is not None:
            last_resolved[a.topic] = a.resolved_at
    return flaps


def minute_counts(tweets: Iterable[StreamTweet], predicted_negative: Callable[[StreamTweet], bool]
                  ) -> dict[str, dict[datetime, tuple[int, int]]]:
    counts: dict[str, dict[datetime, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for tw in tweets:
        neg = predicted_negative(tw)
        for topic in ("all", *tw.topics):
            cell = counts[topic][minute_of(tw.created_at)]
            cell[0] += 1
            cell[1] += int(neg)
    return {t: {m: (c[0], c[1]) for m, c in per.items()} for t, per in counts.items()}


def run_detector(counts: dict[str, dict[datetime, tuple[int, int]]], origin: datetime, minutes: int,
                 config: DetectorConfig) -> list[AlertRecord]:
    alerts: list[AlertRecord] = []
    for topic, per_minute in counts.items():
        det = Detector(topic, config)
        open_at: datetime | None = None
        for i in range(minutes):
            m = origin + timedelta(minutes=i)
            n, k = per_minute.get(m, (0, 0))
            ev = det.observe(m, n, k)
            if ev.transition == "firing":
                open_at = m + timedelta(minutes=1)
            elif ev.transition == "resolved" and open_at is not None:
                alerts.append(AlertRecord(topic, open_at, m + timedelta(minutes=1)))
                open_at = None
        if open_at is not None:
            alerts.append(AlertRecord(topic, open_at))
    return alerts


def run_naive(counts: dict[str, dict[datetime, tuple[int, int]]], origin: datetime, minutes: int,
              threshold: float = 0.5, min_volume: int = 10) -> list[AlertRecord]:
    """The naive rule teams start with: alert when a minute's negative share exceeds a fixed threshold."""
    alerts: list[AlertRecord] = []
    for topic, per_minute in counts.items():
        firing: datetime | None = None
        for i in range(minutes):
            m = origin + timedelta(minutes=i)
            n, k = per_minute.get(m, (0, 0))
            high = n >= min_volume and k / n > threshold
            if high and firing is None:
                firing = m + timedelta(minutes=1)
            elif not high and firing is not None:
                alerts.append(AlertRecord(topic, firing, m + timedelta(minutes=1)))
                firing = None
        if firing is not None:
            alerts.append(AlertRecord(topic, firing))
    return alerts


def evaluate_scenario(scenario: Scenario, tweets: list[StreamTweet], predicted_negative: Callable[[StreamTweet], bool],
                      config: DetectorConfig, naive_threshold: float) -> tuple[EvalReport, EvalReport]:
    counts = minute_counts(tweets, predicted_negative)
    counts.pop("all", None)  # episodes are per topic; "all" is reported but not scored against them
    ours = score(scenario.episodes, scenario.origin, scenario.minutes,
                 run_detector(counts, scenario.origin, scenario.minutes, config))
    naive = score(scenario.episodes, scenario.origin, scenario.minutes,
                  run_naive(counts, scenario.origin, scenario.minutes, naive_threshold))
    return ours, naive
