"""Bad-buzz detection per topic: a baseline learned from the topic's own history, an exact binomial
test on short and long windows, a minimum volume, an effect-size floor, a pending period, hysteresis and a
cooldown. Pure logic: it is fed closed minutes in order and says when an alert fires or resolves.

Why each default (see also docs/alerting.md):

- ``short_window=2``, ``long_window=5`` minutes: the short window catches a sharp wave within minutes; the
  long one catches a slower build-up at low volume. Both are tested; ``alpha`` is split between them
  (Bonferroni) so using two windows does not double the false-alarm rate.
- ``alpha=1e-3``: one test a minute per topic is 1,440 a day; with the pending period below this gives well
  under one false alert per topic per day on a clean stream.
- ``min_volume=30``: below 30 tweets in a window a rate is too noisy to act on, whatever the p-value.
- ``min_ratio=1.3`` and ``min_excess=0.05``: significance alone fires on tiny shifts at high volume; the
  team wants "clearly worse than usual". The detector sees the *model's* labels, whose errors compress
  contrast: a true doubling from 20% to 40% negative reads as about 30% → 42% (1.4×) through a classifier
  of 82% accuracy, so the bar is 1.3× (and at least 5 points); 1.5× missed such episodes in replays.
- ``pending_minutes=2``: one significant minute can be a single angry thread; two in a row is a wave.
- ``resolve_*``: hysteresis — resolving needs the long window back under 1.25 × baseline (or no longer
  significant at 5%) for 3 minutes, a looser bar than firing, so an alert does not flap at the boundary.
- ``cooldown_minutes=30``: after a resolution the same topic stays quiet for half an hour: one episode,
  one alert.
- ``baseline_halflife_minutes=180``: the baseline follows the topic's normal level over hours (daily
  rhythm) but not over the minutes of an episode; minutes under test are kept out of it.
- ``baseline_warmup_tweets=200`` and ``baseline_floor=0.02``: no verdict before the topic has a history,
  and never test against an implausibly low baseline after a quiet, happy hour.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from badbuzz.stream.detection.stats import binom_sf

Status = Literal["ok", "pending", "firing"]


@dataclass(frozen=True)
class DetectorConfig:
    short_window: int = 2
    long_window: int = 5
    alpha: float = 1e-3
    min_volume: int = 30
    min_ratio: float = 1.3
    min_excess: float = 0.05
    pending_minutes: int = 2
    resolve_minutes: int = 3
    resolve_ratio: float = 1.25
    resolve_alpha: float = 0.05
    cooldown_minutes: int = 30
    baseline_halflife_minutes: float = 180.0
    baseline_warmup_tweets: float = 200.0
    baseline_floor: float = 0.02

    def __post_init__(self) -> None:
        if not 1 <= self.short_window <= self.long_window:
            raise ValueError("need 1 <= short_window <= long_window")
        if not 0 < self.alpha < 1 or not 0 < self.resolve_alpha < 1:
            raise ValueError("alpha and resolve_alpha must be in (0, 1)")
        if self.min_ratio < 1 or self.resolve_ratio < 1 or self.pending_minutes < 1 or self.resolve_minutes < 1:
            raise ValueError("ratios must be >= 1 and minute counts >= 1")


@dataclass(frozen=True)
class WindowStats:
    minutes: int
    n: int
    n_negative: int
    p_value: float

    @property
    def rate(self) -> float:
        return self.n_negative / self.n if self.n else 0.0


@dataclass(frozen=True)
class Evaluation:
    """What the detector saw at one closed minute (exported as metrics, attached to alerts)."""

    topic: str
    minute: datetime
    n: int
    n_negative: int
    baseline: float | None
    windows: tuple[WindowStats, ...]
    significant: bool
    status: Status
    transition: Literal["firing", "resolved"] | None = None

    @property
    def strongest(self) -> WindowStats:
        return min(self.windows, key=lambda w: w.p_value) if self.windows else WindowStats(0, 0, 0, 1.0)


@dataclass
class TopicState:
    """Everything the detector remembers about one topic; JSON-serialisable so it survives restarts."""

    baseline_k: float = 0.0
    baseline_n: float = 0.0
    recent: deque[tuple[int, int]] = field(default_factory=deque)
    status: Status = "ok"
    pending: int = 0
    calm: int = 0
    last_minute: str | None = None
    fired_at: str | None = None
    cooldown_until: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["recent"] = [list(x) for x in self.recent]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TopicState:
        state = cls(**{k: v for k, v in doc.items() if k != "recent"})
        state.recent = deque((int(a), int(b)) for a, b in doc.get("recent", []))
        return state


class Detector:
    """One detector per topic."""

    def __init__(self, topic: str, config: DetectorConfig, state: TopicState | None = None) -> None:
        self.topic = topic
        self.config = config
        self.state = state or TopicState()
        self._decay = 0.5 ** (1.0 / config.baseline_halflife_minutes)

    @property
    def baseline(self) -> float | None:
        s = self.state
        if s.baseline_n < self.config.baseline_warmup_tweets or s.baseline_n <= 0:
            return None
        return s.baseline_k / s.baseline_n

    def next_minute(self) -> datetime | None:
        last = self.state.last_minute
        return datetime.fromisoformat(last) + timedelta(minutes=1) if last else None

    def observe(self, minute: datetime, n: int, n_negative: int) -> Evaluation:
        """Feed one closed minute (minutes must come in order; feed zeros for silent minutes)."""
        s, c = self.state, self.config
        if s.last_minute is not None and minute <= datetime.fromisoformat(s.last_minute):
            raise ValueError(f"minute {minute.isoformat()} already observed for topic {self.topic!r}")
        s.recent.append((n, n_negative))
        while len(s.recent) > c.long_window:
            s.recent.popleft()
        s.last_minute = minute.isoformat()
        baseline = self.baseline
        windows = self._windows(baseline)
        significant = baseline is not None and any(self._alarming(w, baseline) for w in windows)
        transition = self._step(minute, significant, baseline, windows)
        if not significant and s.status == "ok":
            s.baseline_k = s.baseline_k * self._decay + n_negative
            s.baseline_n = s.baseline_n * self._decay + n
        return Evaluation(self.topic, minute, n, n_negative, baseline, windows, significant, s.status, transition)

    def _windows(self, baseline: float | None) -> tuple[WindowStats, ...]:
        out = []
        recent = list(self.state.recent)
        for w in sorted({self.config.short_window, self.config.long_window}):
            part = recent[-w:]
            n = sum(x for x, _ in part)
            k = sum(y for _, y in part)
            p = binom_sf(k, n, max(baseline, self.config.baseline_floor)) if baseline is not None and n else 1.0
            out.append(WindowStats(w, n, k, p))
        return tuple(out)

    def _alarming(self, w: WindowStats, baseline: float) -> bool:
        c = self.config
        b = max(baseline, c.baseline_floor)
        tests = 2 if c.short_window != c.long_window else 1
        return (w.n >= c.min_volume and w.p_value < c.alpha / tests and w.rate >= b * c.min_ratio
                and w.rate - b >= c.min_excess)

    def _calm(self, windows: tuple[WindowStats, ...], baseline: float | None) -> bool:
        c = self.config
        long = windows[-1]
        if baseline is None or long.n < c.min_volume:
            return True
        return long.rate < max(baseline, c.baseline_floor) * c.resolve_ratio or long.p_value > c.resolve_alpha

    def _step(self, minute: datetime, significant: bool, baseline: float | None,
              windows: tuple[WindowStats, ...]) -> Literal["firing", "resolved"] | None:
        s, c = self.state, self.config
        if s.status == "firing":
            s.calm = s.calm + 1 if self._calm(windows, baseline) else 0
            if s.calm >= c.resolve_minutes:
                s.status, s.calm, s.fired_at = "ok", 0, None
                s.cooldown_until = (minute + timedelta(minutes=c.cooldown_minutes)).isoformat()
                return "resolved"
            return None
        cooling = s.cooldown_until is not None and minute < datetime.fromisoformat(s.cooldown_until)
        if not significant or cooling:
            s.status, s.pending = "ok", 0
            return None
        s.pending += 1
        s.status = "pending"
        if s.pending >= c.pending_minutes:
            s.status, s.pending, s.calm, s.fired_at = "firing", 0, 0, minute.isoformat()
            return "firing"
        return None


def log10_significance(p_value: float) -> float:
    """-log10(p), capped: a readable 'how surprising' number for dashboards (3 = one in a thousand)."""
    return min(50.0, -math.log10(max(p_value, 1e-50)))
