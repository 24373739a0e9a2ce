"""The multi-scale bad-buzz detector: two signals, five time scales, one false-alarm budget per topic.

Each closed minute of a topic is tested over windows from minutes to half a day (2, 5, 10 and 30 min,
1 h, 3 h and 12 h by default), so a topic with 20 tweets an hour and one with 5,000 a minute are served by the same
defaults: the short windows hold enough tweets for a busy topic, the long ones for a quiet topic. Two
signals per window:

- **share**: the window's negative share against the topic's usual share (beta-binomial test, which
  knows how many tweets the usual share rests on; run only when the window holds ``min_volume`` tweets;
  effect floors ``min_ratio`` and ``min_excess``);
- **volume**: the window's count of negative tweets against the count expected for those hours of the
  week (:class:`~badbuzz.stream.detection.baselines.VolumeBaseline`), with a negative binomial test whose
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

from badbuzz.stream.detection.baselines import ShareBaseline, ShareDispersion, TopicPrior, VolumeBaseline
from badbuzz.stream.detection.severity import Severity, severity_of
from badbuzz.stream.detection.significance import nbinom_sf, normal_sf, share_sf

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
    # effect floor on the share in odds, not as a ratio of shares: a brand at 75 % negative cannot reach
    # "1.5x its share", while its odds can still double (issue 28)
    min_odds_ratio: float = 1.4
    min_excess: float = 0.05
    volume_min_ratio: float = 2.0
    volume_min_excess: int = 8
    # a volume test is a complaint only if the window's negative share is not below the usual: more tweets
    # with proportionally fewer negatives (a campaign, a news story) are a mention spike, not a bad buzz.
    # "Below" means by more than this many standard errors of the window's share (its noise, φ included)
    below_usual_sd: float = 1.5
    # over-dispersion reaches windows shorter than an hour as if they were at least this long: a thread or a
    # retweet cascade clusters tweets within minutes, and the hour-to-hour φ understates that
    dispersion_floor_minutes: int = 15
    below_usual_odds: float = 0.8  # ... and by a margin that matters (a share's daily swing is not a spike)
    # windows up to this long also look for mention spikes that bring few extra negatives (twice the usual
    # tweets at a share below the usual): their minutes must not teach the usual share, or a night's spike of
    # mentions makes every later night look angry (longer windows would hold a spike for hours after it ended)
    mention_scale: int = 60
    mention_min_ratio: float = 1.3  # ... an hour's volume alone varies ±40 %, so a third more is enough
    pending_minutes: int = 2  # for windows shorter than ``pending_scale``; a longer window fires at once
    pending_scale: int = 5
    # a minute where any test clears its effect floors at this p does not teach the baselines (an episode
    # too weak to alert on must not become the new normal and hide the next one)
    suspect_p: float = 1e-3
    suspect_weight: float = 0.2  # ... but teaches the usual share at this weight (see ``observe``)
    low_weight: float = 0.05  # ... and one far below the usual at this one
    hour_weight: float = 0.25  # each hour of the day's share offset: weight of the newest day
    # how far an hour of the day's share may sit from the day's, in log-odds (one standard deviation), before
    # the topic has learned it: counted in the share test while that hour is young (ShareBaseline.unknown)
    share_swing_logit: float = 0.1
    # a new topic that borrows the deployment's daily share swing (TopicPrior) still differs from it by this
    # fraction of the variance
    borrowed_swing_unknown: float = 0.25
    resolve_minutes: int = 10
    # an alert stays open at least this long (Prometheus's keep_firing_for): a story that grows over hours
    # first clears the bar on a lucky window, falls back under it for a while, and would page a second time
    keep_firing_minutes: int = 60
    # a share still this far above the usual (in odds, as the firing floor: a 75 % brand's share can never be
    # 1.15 times its usual, and an alert there resolved in ten minutes and fired again an hour later) holds
    # the alert open
    resolve_odds_ratio: float = 1.2
    volume_resolve_ratio: float = 1.3
    resolve_alpha: float = 0.05
    cooldown_minutes: int = 60
    resolve_horizon_minutes: int = 180  # the longest window that can hold an alert open
    # an alert still firing after this long resolves and its level becomes the usual: a change that lasts a
    # day is the topic's new normal, and an alert that never resolves would freeze the baselines for good
    max_firing_minutes: int = 720
    # a minute teaches the usual share with at most this many times the topic's mean tweets a minute: a
    # spike of mentions at another share must not move the baseline by its sheer volume
    share_learn_cap: float = 4.0
    share_halflife_minutes: float = 360.0
    # a topic's usual share rests on at least this many tweets (decayed): several times what its longest
    # window holds at up to a few hundred tweets an hour (see ``_share_decay_now``)
    share_halflife_tweets: float = 5000.0
    share_lag_hours: int = 3
    # the usual share of ``share_lag_hours`` ago is used when it rests on this many tweets, or on a quarter of
    # today's; else today's (ShareBaseline.lagged): a topic's first, partial hour is a thin baseline
    share_lag_min_tweets: float = 1000.0
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
        if min(self.min_odds_ratio, self.resolve_odds_ratio, self.volume_min_ratio, self.volume_resolve_ratio) < 1:
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
    phi: float = 1.0  # the over-dispersion the test allowed for (share: φ at this window; volume: 1/size)
    # volume: the window's share is below the usual (a mention spike, not complaints); share: far below it
    below_usual: bool = False

    @property
    def rate(self) -> float:
        return self.n_negative / self.n if self.n else 0.0

    @property
    def ratio(self) -> float:
        observed = self.rate if self.signal == "share" else float(self.n_negative)
        return observed / self.expected if self.expected > 0 else float("inf")

    @property
    def odds_ratio(self) -> float:
        """Share tests: the window's odds of a negative tweet over the usual odds (volume: ``ratio``)."""
        if self.signal != "share":
            return self.ratio
        return odds_ratio(self.rate, self.expected) if 0 < self.expected < 1 else self.ratio

    @property
    def expected_negatives(self) -> float:
        """Negative tweets usual for this window: its tweets at the usual share, or the volume baseline's."""
        return self.expected * self.n if self.signal == "share" else self.expected

    @property
    def severity(self) -> Severity:
        return severity_of(self.n_negative, self.expected_negatives)


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
    # on a transition: minutes of history the baselines stand on, and that said in words (with any prior)
    history_minutes: int | None = None
    history_note: str = ""

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
    dispersion: ShareDispersion = field(default_factory=ShareDispersion)
    prior: TopicPrior | None = None  # borrowed from the deployment's other topics when this one was new
    seeded_from: str | None = None  # a history file or store the baselines were learned from before going live
    seeded_minutes: int = 0
    # (n, negatives, expected negatives by the volume baseline, by the share baseline of that minute's hour;
    # -1: no baseline yet)
    recent: deque[tuple[int, int, float, float]] = field(default_factory=deque)
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
            "volume": self.volume.to_json(), "dispersion": self.dispersion.to_json(),
            "prior": self.prior.to_json() if self.prior else None, "seeded_from": self.seeded_from,
            "seeded_minutes": self.seeded_minutes, "recent": [list(x) for x in self.recent],
            "since_reset": self.since_reset, "status": self.status, "pending": self.pending, "calm": self.calm,
            "trigger": list(self.trigger) if self.trigger else None, "last_minute": self.last_minute,
            "fired_at": self.fired_at, "cooldown_until": self.cooldown_until,
        }

    def history_note(self) -> str:
        """What the baselines stand on, as the alert says it: "4.2 days of history (seeded from a file with
        3.0 of them)", "6 h of history, with the day shape of 3 other topics"."""
        minutes = self.volume.minutes_seen
        span = f"{minutes / 1440:.1f} days" if minutes >= 2 * 1440 else f"{minutes / 60:.0f} h"
        parts = [f"{span} of history ({self.share.seen:,} tweets)"]
        if self.seeded_from:
            parts.append(f"{self.seeded_minutes / 1440:.1f} days of it seeded from {self.seeded_from}")
        if self.prior is not None and min(self.volume.day_seen) < 2:
            parts.append(f"with the day shape of {self.prior.topics} other topic{'s' if self.prior.topics > 1 else ''}")
        return "; ".join(parts)

    def seeded(self, source: str) -> TopicState:
        """A copy of this (learned) state ready to go live on another stretch of time: baselines kept, the
        windows, alert status and position in time dropped, so the live alerter starts at the topic's first
        live minute instead of walking through the gap minute by minute (which would teach it silence)."""
        doc = self.to_json()
        doc.update(recent=[], since_reset=0, status="ok", pending=0, calm=0, trigger=None, last_minute=None,
                   fired_at=None, cooldown_until=None, seeded_from=source, seeded_minutes=self.volume.minutes_seen)
        return TopicState.from_json(doc)

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
            dispersion=ShareDispersion.from_json(doc.get("dispersion")),
            prior=TopicPrior.from_json(doc.get("prior")), seeded_from=doc.get("seeded_from"),
            seeded_minutes=int(doc.get("seeded_minutes", 0)),
            recent=deque((int(x[0]), int(x[1]), float(x[2]), float(x[3]) if len(x) > 3 else -1.0)
                         for x in doc["recent"]),
            since_reset=int(doc["since_reset"]), status=doc["status"], pending=int(doc["pending"]),
            calm=int(doc["calm"]), trigger=(str(trigger[0]), int(trigger[1])) if trigger else None,
            last_minute=doc["last_minute"], fired_at=doc["fired_at"], cooldown_until=doc["cooldown_until"],
        )


def odds_ratio(rate: float, usual: float) -> float:
    """The odds of a negative tweet at ``rate`` over those at ``usual`` (0 < usual < 1): the effect size the
    share's floors and resolve bar use, since a brand at 75 % negative can never reach 1.5 times its share."""
    return rate / (1 - rate) / (usual / (1 - usual)) if rate < 1 else float("inf")


_SUSPECT_Z = 3.09  # the normal quantile of DetectorConfig.suspect_p's default (1e-3), for the lower tail


class Detector:
    """One detector per topic."""

    def __init__(self, topic: str, config: DetectorConfig, state: TopicState | None = None,
                 prior: TopicPrior | None = None) -> None:
        self.topic = topic
        self.config = config
        self.state = state or TopicState()
        if state is None and prior is not None:  # a new topic: borrow what its own history cannot tell yet
            self.state.prior = prior
            self.state.volume.prior_shape = list(prior.day_shape)
            self.state.volume.inv_size = prior.inv_size
            self.state.dispersion.prior = prior.phi
            if prior.share_hours is not None:
                self.state.share.hour_logit = list(prior.share_hours)
                self.state.share.hour_unknown = [config.borrowed_swing_unknown] * 24
        self._level_decay = 0.5 ** (1.0 / config.level_halflife_minutes)
        # running (n, k, expected, missing, share-expected, share-missing) per scale
        self._sums = {w: self._sum_of(w) for w in config.scales}

    def _sum_of(self, w: int) -> list[float]:
        recent = list(self.state.recent)
        part = recent[len(recent) - min(w, self.state.since_reset, len(recent)):]
        return [sum(x[0] for x in part), sum(x[1] for x in part), sum(max(0.0, x[2]) for x in part),
                sum(1 for x in part if x[2] < 0), sum(max(0.0, x[3]) for x in part), sum(1 for x in part if x[3] < 0)]

    def _capped(self, n: int, k: int) -> tuple[float, float]:
        """(tweets, negatives) a minute teaches the share baseline: at most ``share_learn_cap`` times the
        topic's mean minute, in the minute's own proportion."""
        s = self.state
        if not s.volume.minutes_seen or not s.share.seen:
            return float(n), float(k)
        cap = self.config.share_learn_cap * max(1.0, s.share.seen / s.volume.minutes_seen)
        return (float(n), float(k)) if n <= cap else (cap, k * cap / n)

    def _share_decay_now(self) -> float:
        """Per-minute decay of the share baseline: a half-life of ``share_halflife_minutes`` or of
        ``share_halflife_tweets`` tweets, whichever is longer (at most a week).

        Why so long: a share test compares a window with the usual share, and the usual share's own noise
        adds to the window's (variance ``1/n + 1/base_n``). At 200 tweets an hour a six-hour half-life held
        ~1,700 tweets against the 2,400 of a twelve-hour window and the 600 of a three-hour one: the baseline's
        noise cost a third of a standard deviation, and a six-hour story on a 75 % brand (its share 0.65 → 0.74
        as the model labels it) stayed under the bar. With 5,000 tweets (~25 h there) target recall at 200/h
        went from 83 / 95 / 70 % to 91 / 96 / 91 % on 25 / 50 / 75 % brands, at 0.7–0.8 false alerts a
        topic-week (docs/alerting.md). Above ~800 tweets an hour the six hours of ``share_halflife_minutes``
        already hold more: there only :meth:`_adopt_recent`'s cap moves. At 20 tweets an hour it is the week's
        cap (it was two days; the 20/h tier table did not move): six hours hold 120 tweets, too few to call a
        40 % hour unusual."""
        c, s = self.config, self.state
        per_minute = s.share.seen / s.volume.minutes_seen if s.volume.minutes_seen else 0.0  # long-run rate
        minutes = c.share_halflife_minutes
        if per_minute > 0:
            minutes = max(minutes, min(c.share_halflife_tweets / per_minute, 7 * 1440.0))
        return float(0.5 ** (1.0 / minutes))

    @property
    def baseline(self) -> float | None:
        c = self.config
        return self.state.share.rate(c.baseline_warmup_tweets, c.share_lag_hours, c.share_lag_min_tweets)

    def next_minute(self) -> datetime | None:
        last = self.state.last_minute
        return datetime.fromisoformat(last) + timedelta(minutes=1) if last else None

    def observe(self, minute: datetime, n: int, n_negative: int) -> Evaluation:
        """Feed one closed minute (minutes must come in order; feed zeros for silent minutes)."""
        s, c = self.state, self.config
        if s.last_minute is not None and minute <= datetime.fromisoformat(s.last_minute):
            raise ValueError(f"minute {minute.isoformat()} already observed for topic {self.topic!r}")
        expected = s.volume.expected(minute)
        raw = self.baseline
        baseline = s.share.at_hour(raw, minute.hour)
        entry = (n, n_negative, expected if expected is not None else -1.0,
                 n * max(baseline, c.baseline_floor) if baseline is not None else -1.0)
        s.recent.append(entry)
        s.since_reset += 1
        for w, acc in self._sums.items():
            self._add(acc, entry, 1)
            if s.since_reset > w:  # the minute that just left this window (only if it was after the reset)
                self._add(acc, s.recent[-w - 1], -1)
        while len(s.recent) > c.longest:
            s.recent.popleft()
        s.last_minute = minute.isoformat()
        tests = self._tests(baseline, minute)
        alarming = [t for t in tests if t.alarming]
        significant = bool(alarming)
        transition, trigger = self._step(minute, alarming, tests)
        clean = s.status == "ok" and transition is None and not any(t.suspect for t in tests)
        mention = any(t.below_usual and t.signal == "volume" for t in tests)
        low = any(t.below_usual and t.signal == "share" for t in tests)
        calm = s.status == "ok" and transition is None
        # a suspect minute (significant, not alerting) still teaches, at a fifth of its weight: a shift that
        # lasts is learned within a day or two instead of never (which would page every hour for ever),
        # while an episode's hours move the usual little. A minute far *below* the usual teaches less still:
        # the tail of a mention spike must not lower the bar for the next day (a lasting fall is still
        # learned, over days, and until then the detector is only less sensitive, not noisy)
        weight = 1.0 if clean else c.low_weight if low else c.suspect_weight
        if calm and not mention:  # a mention spike does not say what share is usual
            tweets, negatives = self._capped(n, n_negative)
            s.share.update(tweets * weight, negatives * weight, self._share_decay_now(), seen=n)
        s.dispersion.add(n, n_negative, s.status == "firing" or transition is not None, mention, weight)
        if minute.minute == 59:
            s.share.end_of_hour(c.share_lag_hours)
            s.share.learn_hour(minute.hour, s.dispersion.usual_n, s.dispersion.usual_k, raw,
                               weight=c.hour_weight * s.dispersion.usual_trust)
            s.dispersion.end_of_hour(baseline)
        s.volume.observe(minute, n_negative, clean, day_weight=c.day_weight, week_weight=c.week_weight,
                         level_decay=self._level_decay, dispersion_weight=c.dispersion_weight,
                         min_inv_size=c.min_inv_size, max_inv_size=c.max_inv_size)
        if transition is None:
            return Evaluation(self.topic, minute, n, n_negative, baseline, expected, tests, significant, s.status)
        return Evaluation(self.topic, minute, n, n_negative, baseline, expected, tests, significant, s.status,
                          transition, trigger, s.volume.minutes_seen, s.history_note())

    @staticmethod
    def _add(acc: list[float], entry: tuple[int, int, float, float], sign: int) -> None:
        acc[0] += sign * entry[0]
        acc[1] += sign * entry[1]
        acc[2] += sign * max(0.0, entry[2])
        acc[3] += sign * (entry[2] < 0)
        acc[4] += sign * max(0.0, entry[3])
        acc[5] += sign * (entry[3] < 0)

    def _window(self, minutes: int) -> tuple[int, int, float | None]:
        """(tweets, negatives, expected negatives or None if any minute lacked a baseline) of the last
        ``minutes`` minutes since the last reset."""
        n, k, exp, missing = self._sums[minutes][:4]
        return int(n), int(k), (None if missing > 0 else exp)

    def _usual_share(self, minutes: int, now: float) -> float:
        """The usual share of the window: each minute's tweets at the usual share of its own hour of the day
        (a twelve-hour window spans night and day), or ``now`` while some minute had no baseline."""
        acc = self._sums[minutes]
        return acc[4] / acc[0] if acc[5] == 0 and acc[0] > 0 and acc[4] > 0 else now

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
                runnable.append(("share", w, n, k, self._usual_share(w, max(baseline, c.baseline_floor))))
            if exp is not None and exp >= c.volume_min_excess / 2 and ("volume", span) not in seen:
                seen.add(("volume", span))
                runnable.append(("volume", w, n, k, exp))
        if not runnable:
            return ()
        base_n = self.state.share.mass(c.share_lag_hours, c.share_lag_min_tweets)
        phi = self.state.dispersion.phi
        inv_size = self.state.volume.inv_size
        swing = c.share_swing_logit ** 2 * self.state.share.unknown(minute.hour)
        out = []
        for signal, w, n, k, exp in runnable:
            each = max(c.alpha, c.weekly_budget * min(w, c.budget_cap_minutes) / MINUTES_PER_WEEK) / len(runnable)
            # over-dispersion comes hour by hour (a thread, a news hour): a window within one hour carries the
            # part of it its share of the hour's tweets brings, a window of hours all of it
            phi_w = 1.0 + (phi - 1.0) * min(1.0, max(w, c.dispersion_floor_minutes) / 60.0)
            below = low = False
            if signal == "share":
                # quasi-binomial: the binomial test on the effective counts (n/φ tweets), the usual share's own
                # evidence discounted alike. A young hour of the day adds its unknown offset's variance, as
                # extra φ: (p(1-p))^2 swing = extra p(1-p) (1/n + 1/base_n)
                inv = 1.0 / n + 1.0 / max(base_n, 1.0)
                extra = exp * (1 - exp) * swing / inv if swing > 0 and 0 < exp < 1 else 0.0
                phi_w, phi_s = phi_w + extra, phi + extra
                sd = (phi_w * exp * (1 - exp) * inv) ** 0.5 if 0 < exp < 1 else 1.0
                z = (k / n - exp) / sd
                p = (normal_sf(z) if z < 1.0 else  # calm (p > 0.16): the exact tail decides nothing up there
                     share_sf(round(k / phi_w), max(1, round(n / phi_w)), exp * base_n / phi_s, base_n / phi_s))
                rate = k / n
                odds = odds_ratio(rate, exp) if 0 < exp < 1 else float("inf")
                large = odds >= c.min_odds_ratio and rate - exp >= c.min_excess
                # as far below the usual as an alert is above it, within the hour: praise, or the tail of a
                # mention spike whose volume is back to normal. Not an alert, but not a usual minute either
                low = (w <= c.mention_scale and z < -_SUSPECT_Z and odds <= 1 / c.min_odds_ratio
                       and exp - rate >= c.min_excess)
                disp = phi_w
                below = low
            else:
                # each hour's level is its own draw: a window of several hours averages them out
                disp = inv_size / max(1.0, w / 60.0) + self.state.volume.uncertainty(minute, w / 60.0)
                mu = max(exp, 1e-6)
                z = (k - mu) / (mu + mu * mu * disp) ** 0.5
                p = normal_sf(z) if z < 1.0 else nbinom_sf(k, mu, 1.0 / disp)
                large = k >= exp * c.volume_min_ratio and k - exp >= c.volume_min_excess
                usual = baseline
                if usual is not None and n > 0 and 0 < usual < 1 and (large or w <= c.mention_scale):
                    sd = (phi_w * usual * (1 - usual) / n) ** 0.5
                    rate = k / n
                    odds = odds_ratio(rate, usual)
                    below = rate < usual - c.below_usual_sd * sd and odds < c.below_usual_odds
                    # without a rise of negatives, a lower share is a mention spike only if the tweets rose
                    # (expected tweets: expected negatives at the usual share); a calmer hour is not one
                    below = below and (large or n * usual >= c.mention_min_ratio * exp)
                large = large and not below
            span = min(w, self.state.since_reset)
            out.append(WindowTest(signal, w, n, k, exp, p, span, large and p < each,
                                  (large and p < c.suspect_p) or low, disp, below))
        return tuple(out)

    def _adopt_recent(self) -> None:
        """Make the last three hours the usual (an alert that lasted ``max_firing_minutes``): their share,
        resting on at most ``share_halflife_tweets`` tweets so the next hours can still move it, and their
        negative volume against the day profile."""
        s = self.state
        w = min((x for x in self.config.scales if x >= 180), default=self.config.longest)
        n, k, exp = self._window(w)
        if n <= 0:
            return
        mass = min(float(n), max(self.config.share_halflife_tweets, 1.0))
        s.share.k, s.share.n = k * mass / n, mass
        s.share.snapshots.clear()
        if exp:  # and the negative volume: the day profile scaled to the level of those hours
            ratio = min(5.0, max(0.2, k / exp))
            s.volume.day = [d * ratio if d is not None else None for d in s.volume.day]
            s.volume.level = s.volume.level * ratio if s.volume.level is not None else None

    def _calm_needed(self) -> int:
        """Calm minutes that resolve the firing alert: ``resolve_minutes``, or a third of the window that fired
        (up to an hour): a three-hour window of a quiet topic holds sixty tweets, and ten minutes in which its
        excess is not significant at 5 % say little about whether the episode is over."""
        trig = self.state.trigger
        return max(self.config.resolve_minutes, min(60, trig[1] // 3 if trig else 0))

    def _calm(self, tests: tuple[WindowTest, ...]) -> bool:
        """No window up to two scales above the firing one (at least ten minutes) is still elevated on the
        looser bar (odds ratio over ``resolve_odds_ratio`` / volume ratio over ``volume_resolve_ratio`` at
        ``resolve_alpha``): an episode
        first seen on a short window must not resolve in a lull and fire again on a longer one, and one that
        hovers at the firing bar must not flap."""
        c, trig = self.config, self.state.trigger
        if trig is None:
            return True
        longer = [s for s in sorted(c.scales) if s > trig[1]]
        # ... but at most the last three hours: a twelve-hour window still holds an episode for twelve hours
        # after it ended, and an alert held open that long would swallow the next one (the windows restart
        # at the resolution, so the tail cannot fire again)
        horizon = min(max(longer[min(1, len(longer) - 1)] if longer else trig[1], 10), c.resolve_horizon_minutes)
        for t in tests:
            bar = c.resolve_odds_ratio if t.signal == "share" else c.volume_resolve_ratio
            if t.minutes <= horizon and t.odds_ratio >= bar and t.p_value < c.resolve_alpha:
                return False
        return True

    def _step(self, minute: datetime, alarming: list[WindowTest], tests: tuple[WindowTest, ...]
              ) -> tuple[Literal["firing", "resolved"] | None, WindowTest | None]:
        s, c = self.state, self.config
        if s.status == "firing":
            held = next((t for t in tests if s.trigger and (t.signal, t.minutes) == s.trigger), None)
            s.calm = s.calm + 1 if self._calm(tests) else 0
            lasted = (minute - datetime.fromisoformat(s.fired_at)).total_seconds() / 60 if s.fired_at else 0.0
            if lasted >= c.max_firing_minutes:
                self._adopt_recent()
                s.calm = self._calm_needed()
            if s.calm >= self._calm_needed() and lasted >= c.keep_firing_minutes:
                s.status, s.calm, s.fired_at, s.trigger = "ok", 0, None, None
                s.since_reset = 0  # the episode leaves every window: its tail cannot fire again
                self._sums = {w: [0.0] * 6 for w in c.scales}
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
