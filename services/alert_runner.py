"""``badbuzz services alerter``: the alert service process (detection loop + webhook dispatcher thread)."""

from __future__ import annotations

import logging
import signal
from datetime import timedelta
from types import FrameType

from prometheus_client import CollectorRegistry

from badbuzz.services.alert_store import REDIS_DESTINATION, AlertStore
from badbuzz.services.alerter import AlertMetrics, AlertService, AlertSink
from badbuzz.services.leadership import Leadership
from badbuzz.services.redis_alerts import ConsoleAlertSink, RedisAlertPublisher, redis_client
from badbuzz.services.settings import Settings
from badbuzz.services.storage import make_engine
from badbuzz.services.webhooks import WebhookDispatcher
from badbuzz.stream.metrics import serve_metrics

log = logging.getLogger(__name__)


def build_alert_service(settings: Settings, registry: CollectorRegistry) -> tuple[AlertService, AlertStore]:
    store = AlertStore(make_engine(settings.resolved_database_url))
    sinks: list[AlertSink] = []
    destinations = list(settings.webhook_url_list)
    if settings.redis_url:
        destinations.append(REDIS_DESTINATION)  # published from the outbox by RedisAlertPublisher
    else:
        sinks.append(ConsoleAlertSink(str(settings.alerts_file) if settings.alerts_file else None))
    service = AlertService(
        store, settings.detector_config(),
        allowed_lateness=timedelta(seconds=settings.alert_allowed_lateness_s),
        sinks=sinks, metrics=AlertMetrics(registry), webhook_urls=destinations,
        watched={t.strip() for t in settings.alert_topics.split(",") if t.strip()} or None,
    )
    return service, store


def run_alerter(settings: Settings) -> None:
    registry = CollectorRegistry()
    service, store = build_alert_service(settings, registry)
    serve_metrics(registry, settings.metrics_port, settings.metrics_addr)
    leadership = Leadership(store.engine)
    if settings.webhook_url_list and settings.webhook_secret is not None:
        WebhookDispatcher(store, settings.webhook_secret.get_secret_value().encode()).start(
            active=lambda: leadership.is_leader)
    if settings.redis_url:
        RedisAlertPublisher(store, redis_client(settings.redis_url), prefix=settings.redis_prefix).start(
            active=lambda: leadership.is_leader)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("alerter: %d topic(s) with saved state, metrics on :%d", len(service.detectors), settings.metrics_port)
    service.run_forever(settings.alert_poll_s, stop=lambda: stopping, leadership=leadership)
    leadership.release()
