"""Every periodic job of a process on one scheduler: retention, the alert outbox, its purge, consumer lag.

These used to be four hand-written ``while True: … sleep`` threads, each with its own error handling and none
of which could be stopped. Here each job is declared once (name, interval, an ``active`` guard such as "this
alerter leads") and the scheduler gives them all the same rules:

- a job runs again ``every_s`` after its previous run *ended*: a slow run delays only itself, runs never pile up;
- jobs run side by side on a pool with one worker per job, so a webhook hanging up to its timeout holds back
  only its own channel's deliveries;
- an exception is logged with the job's name and the job stays scheduled (the database coming back is the
  usual cure); ``stop()`` ends the timer and waits for the runs in progress.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    every_s: float
    run: Callable[[], object]
    active: Callable[[], bool]
    runs: int = 0
    failures: int = 0
    last_error: str | None = field(default=None, repr=False)


class Scheduler:
    def __init__(self, name: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.jobs: dict[str, Job] = {}
        self._clock = clock
        self._due: list[tuple[float, int, str]] = []  # (when, tie-breaker, job name)
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._pool: ThreadPoolExecutor | None = None
        self._timer: threading.Thread | None = None

    def every(self, name: str, every_s: float, run: Callable[[], object], *,
              active: Callable[[], bool] = lambda: True) -> Job:
        """Run ``run()`` now and then every ``every_s`` seconds while ``active()``."""
        if self._timer is not None:
            raise RuntimeError(f"{self.name}: declare every job before start() (the pool has one worker per job)")
        if name in self.jobs:
            raise ValueError(f"a job named {name!r} is already scheduled")
        if every_s <= 0:
            raise ValueError(f"job {name!r}: every_s must be positive, not {every_s}")
        job = self.jobs[name] = Job(name, every_s, run, active)
        with self._wake:
            heapq.heappush(self._due, (self._clock(), next(self._order), name))
            self._wake.notify()
        return job

    def start(self) -> Scheduler:
        if self._timer is None:
            self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.jobs)), thread_name_prefix=self.name)
            self._timer = threading.Thread(target=self._loop, name=f"{self.name}-timer", daemon=True)
            self._timer.start()
        return self

    def stop(self, wait: bool = True) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._timer is not None and wait:
            self._timer.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)

    def run_job(self, job: Job) -> None:
        """One run of ``job`` (when active), its failure logged and counted, never raised."""
        try:
            if job.active():
                job.run()
                job.runs += 1
        except Exception as exc:
            job.failures += 1
            job.last_error = f"{type(exc).__name__}: {exc}"
            log.error("%s: job %s failed (next try in %.0f s): %s", self.name, job.name, job.every_s, exc)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._due or self._due[0][0] > self._clock()):
                    self._wake.wait(timeout=None if not self._due else max(0.0, self._due[0][0] - self._clock()))
                if self._stopped:
                    return
                _, _, name = heapq.heappop(self._due)
            assert self._pool is not None
            job = self.jobs[name]
            self._pool.submit(self._run_and_reschedule, job)

    def _run_and_reschedule(self, job: Job) -> None:
        self.run_job(job)
        with self._wake:
            if not self._stopped:
                heapq.heappush(self._due, (self._clock() + job.every_s, next(self._order), job.name))
                self._wake.notify()
