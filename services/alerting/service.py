"""The alert service: closed minutes → detector per topic → alert events → store (+ outbox) and Prometheus.

One alerter runs per deployment (the scorers scale out; the decision must be taken once). It polls the
rollups the scorers write, advances each topic minute by minute up to the event-time watermark, and
persists every topic's detector state with the transitions it produced, so a restart continues exactly.
Deliveries (Redis, webhooks, console, file) are only *queued* here, one outbox row per channel in the same
transaction; channels.py's dispatcher sends them, so a dead channel slows nothing and loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge

from badbuzz.services.alerting.channels import AlertChannel
from badbuzz.services.alerting.leadership import Leadership
from badbuzz.services.alerting.store import AlertStore, as_utc
from badbuzz.stream.detection.aggregation import MINUTE, Watermark
from badbuzz.stream.detection.baselines import TopicPrior
from badbuzz.stream.detection.detector import Detector, DetectorConfig, Evaluation, TopicState
from badbuzz.stream.detection.event import AlertEvent, emotion_mix, language_mix, pick_examples
from badbuzz.stream.detection.explain import top_terms
from badbuzz.stream.detection.significance import log10_significance

log = logging.getLogger(__name__)
BASELINE_SPAN = timedelta(hours=2)
EXPLAIN_SPAN = timedelta(minutes=10)
EXPLAIN_MIN_NEGATIVES = 30


def alert_id_for(topic: str, fired_at: datetime) -> str:
    return f"{topic}-{fired_at:%Y%m%dT%H%M}"


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.negative_rate = Gauge("badbuzz_topic_negative_rate", "Negative share of the last closed minute",
                                   ["topic"], registry=registry)
        self.window_rate = Gauge("badbuzz_topic_window_negative_rate", "Negative share of the most significant window",
                                 ["topic"], registry=registry)
        self.baseline = Gauge("badbuzz_topic_baseline_rate", "Learned usual negative share", ["topic"],
                              registry=registry)
        self.volume = Gauge("badbuzz_topic_volume", "Tweets in the last closed minute", ["topic"], registry=registry)
        self.significance = Gauge("badbuzz_topic_significance", "-log10 p-value of the most significant window",
                                  ["topic"], registry=registry)
        self.active = Gauge("badbuzz_alert_active", "1 while a bad-buzz alert is firing on the topic", ["topic"],
                            registry=registry)
        self.alerts = Counter("badbuzz_alerts", "Alert transitions", ["topic", "state"], registry=registry)
        self.leader = Gauge("badbuzz_alerter_leader", "1 on the alerter that holds the lock and decides",
                            registry=registry)
        self.watermark = Gauge("badbuzz_alerter_watermark_seconds", "Event-time watermark (unix seconds)",
                               registry=registry)
        self.expected = Gauge("badbuzz_topic_expected_negatives", "Negative tweets usual for this minute of the week",
                              ["topic"], registry=registry)
        self.unpaged = Counter("badbuzz_alerts_unpaged", "Alert transitions recorded but not paged: found while "
                               "catching up, older than BADBUZZ_ALERT_PAGE_MAX_AGE_MINUTES", ["topic"],
                               registry=registry)

    def observe(self, ev: Evaluation) -> None:
        t = ev.topic
        self.negative_rate.labels(topic=t).set(ev.n_negative / ev.n if ev.n else 0.0)
        self.volume.labels(topic=t).set(ev.n)
        self.window_rate.labels(topic=t).set(ev.strongest.rate)
        self.significance.labels(topic=t).set(log10_significance(ev.strongest.p_value))
        if ev.baseline is not None:
            self.baseline.labels(topic=t).set(ev.baseline)
        if ev.expected_negatives is not None:
            self.expected.labels(topic=t).set(ev.expected_negatives)
        self.active.labels(topic=t).set(1.0 if ev.status == "firing" else 0.0)

    def stand_down(self) -> None:
        """Drop every per-topic series: an alerter that no longer decides must not keep a page open
        (``badbuzz_alert_active`` stuck at 1) nor show the topics' last figures as current."""
        for gauge in (self.negative_rate, self.window_rate, self.baseline, self.volume, self.significance,
                      self.active, self.expected):
            gauge.clear()


class AlertService:
    def __init__(self, store: AlertStore, config: DetectorConfig, *, allowed_lateness: timedelta,
                 metrics: AlertMetrics, channels: Sequence[AlertChannel] = (),
                 idle_after: timedelta = timedelta(seconds=60),
                 page_max_age: timedelta | None = None,
                 watched: set[str] | None = None,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_evaluation: Callable[[Evaluation], None] | None = None) -> None:
        self.store = store
        self.idle_after = idle_after
        self.page_max_age = page_max_age  # None: page every transition (a replay or demo, paced "as live")
        self.watched = watched
        self.config = config
        self.watermark = Watermark(allowed_lateness)
        self.metrics = metrics
        self.channels = list(channels)  # each transition is queued for each of them
        self._now = wall_clock
        self.detectors = {t: Detector(t, config, s) for t, s in store.load_states().items()}
        self.open_alerts: dict[str, AlertEvent] = {}
        self.on_evaluation = on_evaluation  # the backtest draws its timelines from these
        self.leading = False  # run_forever: whether this process decided last iteration

    def run_once(self) -> list[AlertEvent]:
        """Advance every topic to the watermark; returns the alert events produced."""
        newest = self.store.event_time_progress(self._now(), self.idle_after)
        closed_before = self.watermark.closed_before(newest)
        if closed_before is None:
            return []
        # Event times ahead of the clock are refused by the scorer; this also guards rows written before that.
        closed_before = min(closed_before, self.watermark.closed_before(self._now()) or closed_before)
        return self.run_until(closed_before)

    def run_until(self, closed_before: datetime) -> list[AlertEvent]:
        """Advance every topic through the minutes before ``closed_before`` (the live loop passes its
        watermark; ``badbuzz backtest`` the end of its file)."""
        self.metrics.watermark.set(closed_before.timestamp())
        produced: list[AlertEvent] = []
        for topic in self.store.topics():
            if self.watched is None or topic in self.watched:
                produced.extend(self._advance(topic, closed_before))
        return produced

    def _advance(self, topic: str, closed_before: datetime) -> list[AlertEvent]:
        """Step one topic to ``closed_before`` on a *copy* of its detector; the copy replaces the live detector
        only once its state and the alert transitions it produced are committed together. A failed save thus
        changes nothing: the next iteration redoes the same minutes and produces the same transitions."""
        live = self.detectors.get(topic)
        det = Detector(topic, self.config, TopicState.from_json(live.state.to_json()) if live else None,
                       prior=None if live else self.prior())
        start = det.next_minute() or self.store.first_minute(topic)
        if start is None:
            return []
        start = as_utc(start)
        if start >= closed_before:
            return []
        counts = self.store.rollups(topic, start, closed_before)
        events: list[AlertEvent] = []
        evaluations: list[Evaluation] = []
        opened = self.open_alerts.get(topic)
        was_open = opened is not None or (live is not None and live.state.status == "firing")
        minute = start
        while minute < closed_before:
            n, k = counts.get(minute, (0, 0))
            ev = det.observe(minute, n, k)
            evaluations.append(ev)
            if ev.transition:
                event = self._event(ev, opened)
                opened = event if event.state == "firing" else None
                events.append(event)
            minute += MINUTE
        unpaged = self._unpaged(events, was_open, opened)
        self.store.save_state(topic, det.state, self._now(), events, self.channels, unpaged)
        self.detectors[topic] = det
        if opened is None:
            self.open_alerts.pop(topic, None)
        else:
            self.open_alerts[topic] = opened
        for ev in evaluations:
            self.metrics.observe(ev)
            if self.on_evaluation is not None:
                self.on_evaluation(ev)
        for e in events:
            self.metrics.alerts.labels(topic=topic, state=e.state).inc()
            log.info("%s", e.summary())
        if unpaged:  # one summary for the catch-up, instead of a page per past transition
            self.metrics.unpaged.labels(topic=topic).inc(len(unpaged))
            past = [e for e in events if e.idempotency_key in unpaged]
            log.warning("catch-up on %s: %d alert transition(s) between %s and %s recorded but not paged (older "
                        "than %s when found); see GET /v1/alerts", topic, len(past), past[0].window_end,
                        past[-1].window_end, self.page_max_age)
        return events

    def prior(self) -> TopicPrior | None:
        """What a new topic borrows from this deployment's mature topics (baselines.TopicPrior)."""
        states = [d.state for d in self.detectors.values()]
        return TopicPrior.pool([s.volume for s in states], [s.dispersion.phi for s in states],
                               [s.share.hour_logit for s in states])

    def _unpaged(self, events: Sequence[AlertEvent], was_open: bool, still_open: AlertEvent | None) -> dict[str, str]:
        """Which of one advance's transitions are recorded without a page: after an outage or a backfill the
        detector catches up through hours of minutes, and paging each past episode now would wake the team for
        something long over. Kept: anything younger than ``page_max_age``, the alert still firing at the end
        (a current problem, whenever it began), and the resolution of an alert that was paged when it fired
        (it closes an open page)."""
        if self.page_max_age is None:
            return {}
        bound = self._now() - self.page_max_age
        reason = f"found while catching up, older than {self.page_max_age} when detected"
        unpaged: dict[str, str] = {}
        paged_firing = was_open
        for e in events:
            when = e.resolved_at if e.state == "resolved" and e.resolved_at else e.fired_at
            if e.state == "firing":
                paged_firing = when >= bound or e is still_open
                if not paged_firing:
                    unpaged[e.idempotency_key] = reason
            elif when < bound and not paged_firing:
                unpaged[e.idempotency_key] = reason
        return unpaged

    def _event(self, ev: Evaluation, opened: AlertEvent | None) -> AlertEvent:
        """The alert event of a transition. Its id is derived from the topic and the minute it fired, so two
        alerters (or one that restarted) reaching the same transition write the same alert, not a second one."""
        w = ev.strongest
        window_end = ev.minute + MINUTE
        window_start = window_end - (w.span or w.minutes) * MINUTE
        baseline = ev.baseline if ev.baseline is not None else 0.0
        expected = round(w.expected, 2) if w.signal == "volume" else None
        if ev.transition == "resolved":
            known = (opened.alert_id, opened.fired_at) if opened else self.store.open_alert(ev.topic)
            alert_id, fired_at = known or (alert_id_for(ev.topic, window_start), window_start)
            return AlertEvent(alert_id, ev.topic, "resolved", fired_at, window_start, window_end, w.rate, baseline,
                              w.n, w.p_value, resolved_at=window_end, signal=w.signal, scale_minutes=w.minutes,
                              expected_negatives=expected)
        # words, examples, languages and mood come from the window that fired when it holds enough negatives
        # to say what is wrong (EXPLAIN_MIN_NEGATIVES), else from at least the last EXPLAIN_SPAN: a two-minute
        # window that fired on fifty tweets is enough to be sure something is wrong, not always to say what,
        # and a ten-minute span around a wave three minutes old is mostly the calm before it
        explain_start = window_start
        negatives = self.store.texts(ev.topic, explain_start, window_end, negative_only=True)
        if len(negatives) < EXPLAIN_MIN_NEGATIVES:
            explain_start = min(window_start, window_end - EXPLAIN_SPAN)
            negatives = self.store.texts(ev.topic, explain_start, window_end, negative_only=True)
        history = self.store.texts(ev.topic, explain_start - BASELINE_SPAN, explain_start, negative_only=False)
        profile = self.store.negative_profile(ev.topic, explain_start, window_end)
        langs = language_mix(lang for lang, _ in profile)
        with_emotions = [e for _, e in profile if e]
        return AlertEvent(
            alert_id_for(ev.topic, window_end), ev.topic, "firing", window_end, window_start, window_end, w.rate,
            baseline, w.n, w.p_value,
            top_terms=top_terms([r[1] for r in negatives], [r[1] for r in history]),
            examples=pick_examples(negatives, langs),
            emotions=emotion_mix(with_emotions),
            signal=w.signal, scale_minutes=w.minutes, expected_negatives=expected, languages=langs,
            emotion_coverage=round(len(with_emotions) / len(profile), 3) if profile else None,
            severity=w.severity, history_minutes=ev.history_minutes, baseline_note=ev.history_note,
        )

    def reload(self) -> None:
        """Forget what is in memory and continue from the store (a standby that has just taken over)."""
        self.detectors = {t: Detector(t, self.config, s) for t, s in self.store.load_states().items()}
        self.open_alerts.clear()

    def run_forever(self, poll_s: float, stop: Callable[[], bool] = lambda: False,
                    leadership: Leadership | None = None) -> None:
        """Detect while this process leads (always, without ``leadership``); stand by otherwise."""
        while not stop():
            try:
                if leadership is None or leadership.hold():
                    if not self.leading:
                        self.reload()
                        self.leading = True
                    self.run_once()
                elif self.leading:
                    self.leading = False
                    self.metrics.stand_down()
            except Exception as exc:
                log.error("alerter iteration failed (will retry): %s", exc)
            self.metrics.leader.set(1.0 if self.leading else 0.0)
            time.sleep(poll_s)
