"""The loop that drains an outbox destination in the background, shared by webhooks and Redis."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def start_outbox_loop(name: str, drain: Callable[[], object], active: Callable[[], bool],
                      poll_s: float) -> threading.Thread:
    """Call ``drain()`` every ``poll_s`` seconds in a daemon thread while ``active()`` (this alerter leads).

    Detection never waits on a channel, a standby never delivers, and a failing iteration is logged and
    retried: the outbox still holds whatever was not delivered.
    """

    def loop() -> None:
        while True:
            try:
                if active():
                    drain()
            except Exception as exc:
                log.error("%s iteration failed (will retry): %s", name, exc)
            time.sleep(poll_s)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
