"""``/readyz``: does the database, Kafka (when configured) and the model answer, checked at most once per
``cache_s``. Readiness is probed by every kubelet and load balancer, every few seconds, without credentials;
each probe used to open a Kafka admin client and a database connection, so probes alone could load the
servers. One answer is shared by all probes within the window, and the checks themselves never overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, text


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]


class ReadinessProbe:
    def __init__(self, db: Engine, load_model: Callable[[], Any], kafka_check: Callable[[], None] | None, *,
                 cache_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.load_model = load_model
        self.kafka_check = kafka_check
        self.cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, Readiness] | None = None

    def check(self) -> Readiness:
        with self._lock:  # concurrent probes wait for one check rather than each running their own
            now = self._clock()
            if self._last is not None and now - self._last[0] < self.cache_s:
                return self._last[1]
            result = self._run()
            self._last = (self._clock(), result)
            return result

    def _run(self) -> Readiness:
        checks: dict[str, str] = {}
        try:
            with self.db.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = failure(exc)
        if self.kafka_check is not None:
            try:
                self.kafka_check()
                checks["kafka"] = "ok"
            except Exception as exc:
                checks["kafka"] = failure(exc)
        try:
            self.load_model()
            checks["model"] = "ok"
        except Exception as exc:
            checks["model"] = failure(exc)
        return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)


def failure(exc: BaseException) -> str:
    """A failed readiness check, short enough for a probe's log (the message's first line, capped)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"error: {type(exc).__name__}: {first[:160]}"
