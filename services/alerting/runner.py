"""``badbuzz services alerter``: the alert service process (detection loop; outbox delivery and retention jobs)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from badbuzz.services.alerting.channels import AlertChannel, ConsoleChannel, FileChannel, OutboxDispatcher
from badbuzz.services.alerting.leadership import Leadership
from badbuzz.services.alerting.redis_channel import RedisChannel, redis_client
from badbuzz.services.alerting.service import AlertMetrics, AlertService
from badbuzz.services.alerting.store import AlertStore
from badbuzz.services.alerting.webhook_channel import WebhookChannel
from badbuzz.services.settings import Settings
from badbuzz.services.signals import stop_requested
from badbuzz.services.storage.retention import apply_retention
from badbuzz.services.storage.scores import make_engine
from badbuzz.stream.periodic import Scheduler
from badbuzz.stream.scoring.metrics import serve_metrics

log = logging.getLogger(__name__)


def alert_channels(settings: Settings) -> list[AlertChannel]:
    """The channels the settings ask for: Redis when configured (else the console), every webhook URL, and
    the alerts file when one is set."""
    channels: list[AlertChannel] = []
    if settings.redis_url:
        channels.append(RedisChannel(redis_client(settings.redis_url.get_secret_value()), prefix=settings.redis_prefix))
    else:
        channels.append(ConsoleChannel())
    if settings.alerts_file:
        channels.append(FileChannel(str(settings.alerts_file)))
    if settings.webhook_url_list:
        secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else b""
        channels.extend(WebhookChannel(url, secret, timeout_s=settings.webhook_timeout_s,
                                       allow_http=settings.webhook_allow_http,
                                       allowed_hosts=settings.webhook_allowed_host_list)
                        for url in settings.webhook_url_list)
    return channels


def build_alert_service(settings: Settings, registry: CollectorRegistry,
                        channels: list[AlertChannel]) -> tuple[AlertService, AlertStore]:
    store = AlertStore(make_engine(settings.resolved_database_url, wait_s=settings.database_wait_s))
    service = AlertService(
        store, settings.detector_config(),
        allowed_lateness=timedelta(seconds=settings.alert_allowed_lateness_s),
        metrics=AlertMetrics(registry), channels=channels,
        page_max_age=timedelta(minutes=settings.alert_page_max_age_minutes),
        watched=settings.alert_topic_set or None,
    )
    return service, store


def run_alerter(settings: Settings) -> None:
    registry = CollectorRegistry()
    channels = alert_channels(settings)
    service, store = build_alert_service(settings, registry, channels)
    serve_metrics(registry, settings.metrics_port, settings.metrics_addr, targets_dir=settings.prometheus_targets,
                  service="alerter", labels=settings.target_labels)
    leadership = Leadership(store.engine)

    def leads() -> bool:  # the jobs below run on the leading alerter only
        return leadership.is_leader

    scheduler = Scheduler("alerter")
    OutboxDispatcher(store, channels, give_up_after=timedelta(hours=settings.delivery_give_up_hours),
                     retention=timedelta(days=settings.outbox_retention_days), registry=registry,
                     term=lambda: leadership.term).schedule(scheduler, active=leads)
    schedule_retention(scheduler, store.engine, settings, active=leads)
    scheduler.start()
    stopping = stop_requested()
    log.info("alerter: %d topic(s) with saved state, channels %s, metrics on :%d", len(service.detectors),
             ", ".join(c.destination.split("://")[0] for c in channels), settings.metrics_port)
    try:
        service.run_forever(settings.alert_poll_s, stop=stopping, leadership=leadership)
    finally:
        scheduler.stop()  # no delivery after this alerter gives up the lead
        leadership.release()


def schedule_retention(scheduler: Scheduler, engine: Engine, settings: Settings, active: Callable[[], bool],
                       every_s: float = 3600.0) -> None:
    """The retention job (services/storage/retention.py) every hour on the leading alerter (one runner is
    enough); a failure (the database is down) is retried the next hour."""
    policy = settings.retention_policy()
    scheduler.every("retention", every_s, lambda: apply_retention(engine, policy, datetime.now(UTC)), active=active)
