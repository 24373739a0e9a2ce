"""What both scorer engines say and count when a batch's delivery fails and is held for another try."""

from __future__ import annotations

import logging

from badbuzz.stream.errors import SinkError, StoreUnavailable
from badbuzz.stream.scoring.metrics import ScorerMetrics

log = logging.getLogger(__name__)


def report_held_batch(exc: BaseException | None, size: int, retry_in_s: float, metrics: ScorerMetrics) -> None:
    """An outage (store, broker) is logged as such; anything else with its traceback, since input can no longer
    cause it (the batch's content was dealt with in ``prepare``). The scorer stops reporting ready meanwhile."""
    if isinstance(exc, StoreUnavailable | SinkError):
        stage = "store" if isinstance(exc, StoreUnavailable) else "publish"
        log.error("%s; holding the batch of %d and retrying in %.1fs", exc, size, retry_in_s)
    else:
        stage = "other"
        log.error("delivering a batch of %d failed; retrying in %.1fs", size, retry_in_s, exc_info=exc)
    metrics.ready.set(0)
    metrics.delivery_retries.labels(stage=stage).inc()
