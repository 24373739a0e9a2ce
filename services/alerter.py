"""The alert service: closed minutes → detector per topic → alert events → store, Redis, Prometheus, webhooks.

One alerter runs per deployment (the scorers scale out; the decision must be taken once). It polls the
rollups the scorers write, advances each topic minute by minute up to the event-time watermark, and
persists every topic's detector state with the transitions it produced, so a restart continues exactly.
Webhooks are only *queued* here (outbox); the dispatcher sends them, so a dead endpoint slows nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from badbuzz.services.alert_store import AlertStore, as_utc
from badbuzz.services.leadership import Leadership
from badbuzz.stream.aggregation import MINUTE, Watermark
from badbuzz.stream.alerts import AlertEvent, emotion_mix
from badbuzz.stream.detection import Detector, DetectorConfig, Evaluation, TopicState, log10_significance
from badbuzz.stream.explain import top_terms

log = logging.getLogger(__name__)
BASELINE_SPAN = timedelta(hours=2)


def alert_id_for(topic: str, fired_at: datetime) -> str:
    return f"{topic}-{fired_at:%Y%m%dT%H%M}"


class AlertSink(Protocol):
    def publish(self, events: Sequence[AlertEvent]) -> None: ...


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

    def observe(self, ev: Evaluation) -> None:
        t = ev.topic
        self.negative_rate.labels(topic=t).set(ev.n_negative / ev.n if ev.n else 0.0)
        self.volume.labels(topic=t).set(ev.n)
        self.window_rate.labels(topic=t).set(ev.strongest.rate)
        self.significance.labels(topic=t).set(log10_significance(ev.strongest.p_value))
        if ev.baseline is not None:
            self.baseline.labels(topic=t).set(ev.baseline)
        self.active.labels(topic=t).set(1.0 if ev.status == "firing" else 0.0)


class AlertService:
    def __init__(self, store: AlertStore, config: DetectorConfig, *, allowed_lateness: timedelta,
                 sinks: Sequence[AlertSink], metrics: AlertMetrics, webhook_urls: Sequence[str] = (),
                 idle_after: timedelta = timedelta(seconds=60),
                 watched: set[str] | None = None,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.idle_after = idle_after
        self.watched = watched
        self.config = config
        self.watermark = Watermark(allowed_lateness)
        self.sinks = list(sinks)
        self.metrics = metrics
        self.webhook_urls = list(webhook_urls)
        self._now = wall_clock
        self.detectors = {t: Detector(t, config, s) for t, s in store.load_states().items()}
        self.open_alerts: dict[str, AlertEvent] = {}

    def run_once(self) -> list[AlertEvent]:
        """Advance every topic to the watermark; returns the alert events produced."""
        newest = self.store.event_time_progress(self._now(), self.idle_after)
        closed_before = self.watermark.closed_before(newest)
        if closed_before is None:
            return []
        # Event times ahead of the clock are refused by the scorer; this also guards rows written before that.
        closed_before = min(closed_before, self.watermark.closed_before(self._now()) or closed_before)
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
        det = Detector(topic, self.config, TopicState.from_json(live.state.to_json()) if live else None)
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
        self.store.save_state(topic, det.state, self._now(), events, self.webhook_urls)
        self.detectors[topic] = det
        if opened is None:
            self.open_alerts.pop(topic, None)
        else:
            self.open_alerts[topic] = opened
        for ev in evaluations:
            self.metrics.observe(ev)
        for e in events:
            self.metrics.alerts.labels(topic=topic, state=e.state).inc()
            log.info("%s", e.summary())
        if events:
            for sink in self.sinks:
                try:
                    sink.publish(events)
                except Exception as exc:  # a broken channel must not stop detection; the store has the alert
                    log.error("alert sink %s failed: %s", type(sink).__name__, exc)
        return events

    def _event(self, ev: Evaluation, opened: AlertEvent | None) -> AlertEvent:
        """The alert event of a transition. Its id is derived from the topic and the minute it fired, so two
        alerters (or one that restarted) reaching the same transition write the same alert, not a second one."""
        w = ev.strongest
        window_end = ev.minute + MINUTE
        window_start = window_end - w.minutes * MINUTE
        baseline = ev.baseline if ev.baseline is not None else 0.0
        if ev.transition == "resolved":
            known = (opened.alert_id, opened.fired_at) if opened else self.store.open_alert(ev.topic)
            alert_id, fired_at = known or (alert_id_for(ev.topic, window_start), window_start)
            return AlertEvent(alert_id, ev.topic, "resolved", fired_at, window_start, window_end, w.rate, baseline,
                              w.n, w.p_value, resolved_at=window_end)
        negatives = self.store.texts(ev.topic, window_start, window_end, negative_only=True)
        history = self.store.texts(ev.topic, window_start - BASELINE_SPAN, window_start, negative_only=False)
        return AlertEvent(
            alert_id_for(ev.topic, window_end), ev.topic, "firing", window_end, window_start, window_end, w.rate,
            baseline, w.n, w.p_value,
            top_terms=top_terms([t for _, t, _ in negatives], [t for _, t, _ in history]),
            examples=[{"id": i, "text": t} for i, t, _ in negatives[:5]],
            emotions=emotion_mix(self.store.negative_emotions(ev.topic, window_start, window_end)),
        )

    def reload(self) -> None:
        """Forget what is in memory and continue from the store (a standby that has just taken over)."""
        self.detectors = {t: Detector(t, self.config, s) for t, s in self.store.load_states().items()}
        self.open_alerts.clear()

    def run_forever(self, poll_s: float, stop: Callable[[], bool] = lambda: False,
                    leadership: Leadership | None = None) -> None:
        """Detect while this process leads (always, without ``leadership``); stand by otherwise."""
        leading = False
        while not stop():
            try:
                if leadership is None or leadership.hold():
                    if not leading:
                        self.reload()
                        leading = True
                    self.run_once()
                else:
                    leading = False
            except Exception as exc:
                log.error("alerter iteration failed (will retry): %s", exc)
            self.metrics.leader.set(1.0 if leading else 0.0)
            time.sleep(poll_s)
