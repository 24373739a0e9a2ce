"""The one scheduler behind every periodic job (stream/periodic.py): the rules each job used to hand-roll."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from badbuzz.stream.periodic import Scheduler


def wait_for(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_a_failing_job_is_logged_and_kept_and_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler("t")
    calls = {"ok": 0, "bad": 0}

    def bad() -> None:
        calls["bad"] += 1
        raise ConnectionError("database is down")

    scheduler.every("ok", 0.01, lambda: calls.__setitem__("ok", calls["ok"] + 1))
    broken = scheduler.every("bad", 0.01, bad)
    with caplog.at_level(logging.ERROR, logger="badbuzz.stream.periodic"):
        scheduler.start()
        assert wait_for(lambda: calls["ok"] >= 5 and calls["bad"] >= 3)
        scheduler.stop()
    assert broken.failures == calls["bad"] and broken.runs == 0
    assert broken.last_error == "ConnectionError: database is down"
    assert "t: job bad failed" in caplog.text and "database is down" in caplog.text


def test_a_hanging_job_holds_back_only_itself_and_never_runs_twice_at_once() -> None:
    scheduler = Scheduler("t")
    release, inside, most = threading.Event(), [0], [0]
    fast = {"n": 0}

    def hang() -> None:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        release.wait(5)
        inside[0] -= 1

    scheduler.every("hang", 0.001, hang)
    scheduler.every("fast", 0.01, lambda: fast.__setitem__("n", fast["n"] + 1))
    scheduler.start()
    assert wait_for(lambda: fast["n"] >= 10)  # while the other job hangs
    release.set()
    scheduler.stop()
    assert most[0] == 1  # no pile-up: the next run is scheduled when the previous one ends


def test_an_inactive_job_is_skipped_until_it_becomes_active() -> None:
    scheduler = Scheduler("t")
    leading, runs = [False], [0]
    job = scheduler.every("lead-only", 0.01, lambda: runs.__setitem__(0, runs[0] + 1), active=lambda: leading[0])
    scheduler.start()
    time.sleep(0.1)
    assert runs[0] == 0 and job.runs == 0
    leading[0] = True
    assert wait_for(lambda: runs[0] >= 2)
    scheduler.stop()
    after = runs[0]
    time.sleep(0.1)
    assert runs[0] == after  # stopped means stopped


def test_jobs_are_declared_once_and_before_the_start() -> None:
    scheduler = Scheduler("t")
    scheduler.every("a", 1, lambda: None)
    with pytest.raises(ValueError, match="already scheduled"):
        scheduler.every("a", 1, lambda: None)
    with pytest.raises(ValueError, match="positive"):
        scheduler.every("b", 0, lambda: None)
    scheduler.start()
    with pytest.raises(RuntimeError, match="before start"):
        scheduler.every("c", 1, lambda: None)
    scheduler.stop()
