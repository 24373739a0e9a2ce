"""Graceful stop for long-running commands: SIGTERM (Kubernetes, systemd, docker stop) and Ctrl-C set a flag
the command's loop checks, so it finishes what it holds (a batch, a checkpoint) instead of dying mid-way."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType


def stop_requested() -> Callable[[], bool]:
    """Install the handlers; the returned function says whether a stop was asked for."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return lambda: stopping
