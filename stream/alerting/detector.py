"""The multi-scale bad-buzz detector: two signals, five time scales, one false-alarm budget per topic.

Each closed minute of a topic is tested over windows from minutes to half a day (2, 5, 10 and 30 min,
1 h, 3 h and 12 h by default), so a topic with 20 tweets an hour and one with 5,000 a minute are served by the same
defaults: the short windows hold enough tweets for a busy topic, the long ones for a quiet topic. Two
signals per window:

- **share**: the window's negative share against the topic's usual share (beta-binomial test, which
  knows how many tweets the usual share rests on; run only when the window holds ``min_volume`` tweets;
  effect floors ``min_ratio`` and ``min_excess``);
- **volume**: the window's count of negative tweets against the count expected for those hours of the
  week (:class:`~badbuzz.stream.alerting.baselines.VolumeBaseline`), with a negative binomial test whose
  over-dispersion is learned from the topic; effect floors ``volume_min_ratio`` and ``volume_min_excess``.
  A crisis often shows as three times the usual complaints while the share rises only a little.

The false-alarm budget is split (Bonferroni) over the tests actually run that minute, so adding scales
does not add false alarms. Each test gets the larger of two levels: ``alpha`` per topic and minute, and a
share of ``weekly_budget`` false alarms a week in proportion to its window (up to ``budget_cap_minutes``).
A window of an hour slides sixty times over the same tweets: its minute-by-minute tests are far from
independent, so it can be given a level thirty times a two-minute window's for the same alarms per week.
That is what lets a topic of 20 tweets an hour, where only the long windows hold enough tweets, be served.

On windows shorter than ``pending_scale`` a test
must stay significant ``pending_minutes`` minutes in a row to fire (one angry thread is not a wave); a
longer window already spans many minutes and fires at once. A firing alert resolves once no window up to
two scales above its own is still elevated on a looser bar, for ``resolve_minutes`` in a row
(hysteresis: an episode hovering at the firing bar does not flap); the windows then restart from the
resolution, so the tail of an episode still inside a long window cannot fire a second alert, and
``cooldown_minutes`` follows.
Baselines learn only from calm minutes. State is JSON; the detector is fed closed minutes in order (zeros
for silent minutes) by the live alerter, the backtest and the simulations alike.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from badbuzz.stream.alerting.baselines import ShareBaseline, VolumeBaseline
from badbuzz.stream.alerting.significance import nbinom_sf, share_sf

Status = Literal["ok", "pending", "firing"]
Signal = Literal["share", "volume"]
STATE_VERSION = 2
MINUTES_PER_WEEK = 7 * 1440


@dataclass(frozen=True)
class DetectorConfig:
    scales: tuple[int, ...] = (2, 5, 10, 30, 60, 180, 720)
    alpha: float = 3e-4
    weekly_budget: float = 0.15
    budget_cap_minutes: int = 60
    min_volume: int = 30
    min_ratio: float = 1.3
    min_excess: float = 0.05
    volume_min_ratio: float = 2.0
    volume_min_excess: int = 8
    pending_minutes: int = 2  # for windows shorter than ``pending_scale``; a longer window fires at once
    pending_scale: int = 5
    # a minute where any test clears its effect floors at this p does not teach the baselines (an episode
    # too weak to alert on must not become the new normal and hide the next one)
    suspect_p: float = 1e-3
    resolve_minutes: int = 10
    resolve_ratio: float = 1.15
    volume_resolve_ratio: float = 1.3
    resolve_alpha: float = 0.05
    cooldown_minutes: int = 60
    share_halflife_minutes: float = 360.0
    share_halflife_tweets: float = 1000.0  # a quiet topic's usual share rests on at least this many tweets
    share_lag_hours: int = 3
    baseline_warmup_tweets: float = 200.0
    baseline_floor: float = 0.02
    day_weight: float = 0.3  # each hour of the day: weight of the newest day
    week_weight: float = 0.3  # each weekday's factor: weight of the newest week
    level_halflife_minutes: float = 180.0
    dispersion_weight: float = 0.02
    min_inv_size: float = 0.01
    max_inv_size: float = 1.0

    def __post_init__(self) -> None:
        if not self.scales or any(s < 1 for s in self.scales) or len(set(self.scales)) != len(self.scales):
            raise ValueError("scales must be distinct window lengths of at least one minute")
        if not 0 < self.alpha < 1 or not 0 < self.resolve_alpha < 1:
            raise ValueError("alpha and resolve_alpha must be in (0, 1)")
        if min(self.min_ratio, self.resolve_ratio, self.volume_min_ratio, self.volume_resolve_ratio) < 1:
            raise ValueError("ratios must be >= 1")
        if self.pending_minutes < 1 or self.resolve_minutes < 1:
            raise ValueError("pending_minutes and resolve_minutes must be >= 1")

    @property
    def longest(self) -> int:
        return max(self.scales)


@dataclass(frozen=True)
class WindowTest:
    """One signal on one window at one minute."""

    signal: Signal
    minutes: int
    n: int
    n_negative: int
    expected: float  # share: the baseline share; volume: the expected negative count
    p_value: float
    span: int = 0  # minutes the window really covers (shorter than ``minutes`` just after a start or reset)
    alarming: bool = False
    suspect: bool = False  # clears the effect floors at the looser ``suspect_p``

    @property
    def rate(self) -> float:
        return self.n_negative / self.n if self.n else 0.0

    @property
    def ratio(self) -> float:
        observed = self.rate if self.signal == "share" else float(self.n_negative)
        return observed / self.expected if self.expected > 0 else float("inf")


@dataclass(frozen=True)
class Evaluation:
    """What the detector saw at one closed minute (exported as metrics, attached to alerts)."""

    topic: str
    minute: datetime
    n: int
    n_negative: int
    baseline: float | None
    expected_negatives: float | None  # this minute, from the volume baseline
    tests: tuple[WindowTest, ...]
    significant: bool
    status: Status
    transition: Literal["firing", "resolved"] | None = None
    trigger: WindowTest | None = None  # the test that fired (or, on resolution, the one that had fired)

    @property
    def strongest(self) -> WindowTest:
        if self.trigger is not None:
            return self.trigger
        return min(self.tests, key=lambda t: t.p_value) if self.tests else WindowTest("share", 0, 0, 0, 0.0, 1.0)


@dataclass
class TopicState:
    """Everything the detector remembers about one topic; JSON-serialisable so it survives restarts."""

    share: ShareBaseline = field(default_factory=ShareBaseline)
    volume: VolumeBaseline = field(default_factory=VolumeBaseline)
    recent: deque[tuple[int, int, float]] = field(default_factory=deque)  # (n, negatives, expected negatives)
    since_reset: int = 0
    status: Status = "ok"
    pending: int = 0
    calm: int = 0
    trigger: tuple[str, int] | None = None  # (signal, scale) of the firing alert
    last_minute: str | None = None
    fired_at: str | None = None
    cooldown_until: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION, "share": self.share.to_json(),
            "volume": self.volume.to_json(), "recent": [list(x) for x in self.recent],
            "since_reset": self.since_reset, "status": self.status, "pending": self.pending, "calm": self.calm,
            "trigger": list(self.trigger) if self.trigger else None, "last_minute": self.last_minute,
            "fired_at": self.fired_at, "cooldown_until": self.cooldown_until,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TopicState:
        """Read a saved state; a state saved by the single-scale detector (no ``version``) keeps its share
        baseline, its position in time and its alert status, and starts the volume baseline afresh."""
        if doc.get("version") != STATE_VERSION:
            k, n = float(doc.get("baseline_k", 0.0)), float(doc.get("baseline_n", 0.0))
            state = cls(share=ShareBaseline(k, n, [], int(n)),
                        last_minute=doc.get("last_minute"), fired_at=doc.get("fired_at"),
                        cooldown_until=doc.get("cooldown_until"))
            if doc.get("status") == "firing":
                state.status, state.trigger = "firing", ("share", int(doc.get("long_window", 5)))
            return state
        trigger = doc.get("trigger")
        return cls(
            share=ShareBaseline.from_json(doc["share"]), volume=VolumeBaseline.from_json(doc["volume"]),
            recent=deque((int(a), int(b), float(c)) for a, b, c in doc["recent"]),
            since_reset=int(doc["since_reset"]), status=doc["status"], pending=int(doc["pending"]),
            calm=int(doc["calm"]), trigger=(str(trigger[0]), int(trigger[1])) if trigger else None,
            last_minute=doc["last_minute"], fired_at=doc["fired_at"], cooldown_until=doc["cooldown_until"],
        )


class Detector:
    """One detector per topic."""

    def __init__(self, topic: str, config: DetectorConfig, state: TopicState | None = None) -> None:
        self.topic = topic
        self.config = config
        self.state = state or TopicState()
        self._level_decay = 0.5 ** (1.0 / config.level_halflife_minutes)
        self._sums = {w: self._sum_of(w) for w in config.scales}  # running (n, k, expected, missing) per scale

    def _sum_of(self, w: int) -> list[float]:
        recent = list(self.state.recent)
        part = recent[len(recent) - min(w, self.state.since_reset, len(recent)):]
        return [sum(x[0] for x in part), sum(x[1] for x in part), sum(max(0.0, x[2]) for x in part),
                sum(1 for x in part if x[2] < 0)]

    def _share_decay_now(self) -> float:
        """Per-minute decay of the share baseline: a half-life of ``share_halflife_minutes`` or of
        ``share_halflife_tweets`` tweets, whichever is longer. At 20 tweets an hour six hours hold 120
        tweets, too few to call a 40 % hour unusual; 1,000 tweets is two days of such a topic."""
        c, s = self.config, self.state
        per_minute = s.share.seen / s.volume.minutes_seen if s.volume.minutes_seen else 0.0  # long-run rate
        minutes = c.share_halflife_minutes
        if per_minute > 0:
            minutes = max(minutes, min(c.share_halflife_tweets / per_minute, 7 * 1440.0))
        return float(0.5 ** (1.0 / minutes))

    @property
    def baseline(self) -> float | None:
        return self.state.share.rate(self.config.baseline_warmup_tweets, self.config.share_lag_hours)

    def next_minute(self) -> datetime | None:
        last = self.state.last_minute
        return datetime.fromisoformat(last) + timedelta(minutes=1) if last else None

    def observe(self, minute: datetime, n: int, n_negative: int) -> Evaluation:
        """Feed one closed minute (minutes must come in order; feed zeros for silent minutes)."""
        s, c = self.state, self.config
        if s.last_minute is not None and minute <= datetime.fromisoformat(s.last_minute):
            raise ValueError(f"minute {minute.isoformat()} already observed for topic {self.topic!r}")
        expected = s.volume.expected(minute)
        entry = (n, n_negative, expected if expected is not None else -1.0)
        s.recent.append(entry)
        s.since_reset += 1
        for w, acc in self._sums.items():
            self._add(acc, entry, 1)
            if s.since_reset > w:  # the minute that just left this window (only if it was after the reset)
                self._add(acc, s.recent[-w - 1], -1)
        while len(s.recent) > c.longest:
            s.recent.popleft()
        s.last_minute = minute.isoformat()
        baseline = self.baseline
        tests = self._tests(baseline, minute)
        alarming = [t for t in tests if t.alarming]
        significant = bool(alarming)
        transition, trigger = self._step(minute, alarming, tests)
        clean = s.status == "ok" and transition is None and not any(t.suspect for t in tests)
        if clean:
            s.share.update(n, n_negative, self._share_decay_now())
        if minute.minute == 59:
            s.share.end_of_hour(c.share_lag_hours)
        s.volume.observe(minute, n_negative, clean, day_weight=c.day_weight, week_weight=c.week_weight,
                         level_decay=self._level_decay, dispersion_weight=c.dispersion_weight,
                         min_inv_size=c.min_inv_size, max_inv_size=c.max_inv_size)
        return Evaluation(self.topic, minute, n, n_negative, baseline, expected, tests, significant, s.status,
                          transition, trigger)

    @staticmethod
    def _add(acc: list[float], entry: tuple[int, int, float], sign: int) -> None:
        acc[0] += sign * entry[0]
        acc[1] += sign * entry[1]
        acc[2] += sign * max(0.0, entry[2])
        acc[3] += sign * (entry[2] < 0)

    def _window(self, minutes: int) -> tuple[int, int, float | None]:
        """(tweets, negatives, expected negatives or None if any minute lacked a baseline) of the last
        ``minutes`` minutes since the last reset."""
        n, k, exp, missing = self._sums[minutes]
        return int(n), int(k), (None if missing > 0 else exp)

    def _tests(self, baseline: float | None, minute: datetime) -> tuple[WindowTest, ...]:
        """Every (signal, scale) test that has enough data this minute, with the shared budget applied."""
        c = self.config
        runnable: list[tuple[Signal, int, int, int, float]] = []
        seen: set[tuple[Signal, int]] = set()
        for w in sorted(c.scales):
            span = min(w, self.state.since_reset)
            n, k, exp = self._window(w)
            if baseline is not None and n >= c.min_volume and ("share", span) not in seen:
                seen.add(("share", span))
                runnable.append(("share", w, n, k, max(baseline, c.baseline_floor)))
            if exp is not None and exp >= c.volume_min_excess / 2 and ("volume", span) not in seen:
                seen.add(("volume", span))
                runnable.append(("volume", w, n, k, exp))
        if not runnable:
            return ()
        base_n = self.state.share.mass(c.share_lag_hours)
        inv_size = self.state.volume.inv_size + self.state.volume.uncertainty(minute)
        out = []
        for signal, w, n, k, exp in runnable:
            each = max(c.alpha, c.weekly_budget * min(w, c.budget_cap_minutes) / MINUTES_PER_WEEK) / len(runnable)
            if signal == "share":
                p = share_sf(k, n, exp * base_n, base_n)
                large = k / n >= exp * c.min_ratio and k / n - exp >= c.min_excess
            else:
                p = nbinom_sf(k, max(exp, 1e-6), 1.0 / inv_size)
                large = k >= exp * c.volume_min_ratio and k - exp >= c.volume_min_excess
            span = min(w, self.state.since_reset)
            out.append(WindowTest(signal, w, n, k, exp, p, span, large and p < each, large and p < c.suspect_p))
        return tuple(out)

    def _calm(self, tests: tuple[WindowTest, ...]) -> bool:
        """No window up to two scales above the firing one (at least ten minutes) is still elevated on the
        looser bar (ratio over ``resolve_ratio`` / ``volume_resolve_ratio`` at ``resolve_alpha``): an episode
        first seen on a short window must not resolve in a lull and fire again on a longer one, and one that
        hovers at the firing bar must not flap."""
        c, trig = self.config, self.state.trigger
        if trig is None:
            return True
        longer = [s for s in sorted(c.scales) if s > trig[1]]
        horizon = max(longer[min(1, len(longer) - 1)] if longer else trig[1], 10)
        for t in tests:
            bar = c.resolve_ratio if t.signal == "share" else c.volume_resolve_ratio
            if t.minutes <= horizon and t.ratio >= bar and t.p_value < c.resolve_alpha:
                return False
        return True

    def _step(self, minute: datetime, alarming: list[WindowTest], tests: tuple[WindowTest, ...]
              ) -> tuple[Literal["firing", "resolved"] | None, WindowTest | None]:
        s, c = self.state, self.config
        if s.status == "firing":
            held = next((t for t in tests if s.trigger and (t.signal, t.minutes) == s.trigger), None)
            s.calm = s.calm + 1 if self._calm(tests) else 0
            if s.calm >= c.resolve_minutes:
                s.status, s.calm, s.fired_at, s.trigger = "ok", 0, None, None
                s.since_reset = 0  # the episode leaves every window: its tail cannot fire again
                self._sums = {w: [0.0, 0.0, 0.0, 0.0] for w in c.scales}
                s.cooldown_until = (minute + timedelta(minutes=c.cooldown_minutes)).isoformat()
                return "resolved", held
            return None, None
        cooling = s.cooldown_until is not None and minute < datetime.fromisoformat(s.cooldown_until)
        if not alarming or cooling:
            s.status, s.pending = "ok", 0
            return None, None
        s.pending += 1
        s.status = "pending"
        best = min(alarming, key=lambda t: (t.minutes, t.p_value))  # the most specific window that fires
        if s.pending >= c.pending_minutes or best.minutes >= c.pending_scale:
            s.status, s.pending, s.calm, s.fired_at = "firing", 0, 0, minute.isoformat()
            s.trigger = (best.signal, best.minutes)
            return "firing", best
        return None, None
