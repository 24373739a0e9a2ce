"""The scorer's faust worker leaves the log level where the settings put it.

faust's terminal spinner set the root logger to DEBUG whenever the level was WARNING or above, so every
library's debug record was built and filtered (kafka-python writes one per message produced)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import faust
import pytest

from badbuzz.services.scorer import make_worker


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.mark.parametrize("level", ["INFO", "WARNING", "ERROR"])
def test_the_workers_logging_keeps_the_configured_level(level: str, root_logging: None) -> None:
    app = faust.App("badbuzz-test-worker", broker="kafka://127.0.0.1:1", web_enabled=False)
    worker = make_worker(app, level)
    worker._setup_logging()  # what faust runs when the worker starts
    assert logging.getLogger().level == logging.getLevelName(level)
    assert not logging.getLogger("kafka.producer.kafka").isEnabledFor(logging.DEBUG)


def test_fausts_own_worker_is_what_raised_the_level(root_logging: None) -> None:
    """The fault this guards against is faust's, not a test artefact: its worker as it comes lowers it."""
    app = faust.App("badbuzz-test-worker-plain", broker="kafka://127.0.0.1:1", web_enabled=False)
    faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)._setup_logging()
    assert logging.getLogger().level == logging.DEBUG
