"""``badbuzz services api``: the HTTP API under uvicorn (one process; run several behind a load balancer)."""

from __future__ import annotations

import logging

from badbuzz.services.settings import Settings
from badbuzz.stream.scoring.metrics import ScrapeTarget

log = logging.getLogger(__name__)


def run_api(settings: Settings) -> None:
    import uvicorn

    from badbuzz.services.api.app import build_app

    app = build_app(settings)
    if settings.prometheus_targets is not None:  # its /metrics is on the API's own port
        ScrapeTarget(settings.prometheus_targets, "api", settings.api_host, settings.api_port,
                     settings.target_labels).register()
    log.info("API on http://%s:%d (OpenAPI at /docs)", settings.api_host, settings.api_port)
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="warning",
                timeout_graceful_shutdown=10)
