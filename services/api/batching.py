"""Dynamic batching for the scoring endpoint: concurrent requests share one model call.

A CRM plug-in, a chatbot or a moderation hook sends one text per request. Scored one by one, each request
pays a whole model call (padding, thread hand-offs, Python overhead) and the machine serves a third of what
it can (issue 29: 145-249 texts/s against 824 batched). Serving peers (Hugging Face TEI, Triton) gather what
arrives while the model is busy, and so does this:

- an idle server starts a call at most ``max_wait_s`` after the first request, or at once when ``max_texts``
  texts wait. The API's default is no wait at all (``BADBUZZ_API_BATCH_MAX_WAIT_MS=0``): measured on 2 cores,
  waiting 5 ms for company cost a lone client 5 ms and bought nothing at 16 clients, since batches form
  anyway from what queues while a call runs;
- while a call runs, new requests queue; when it ends, the next call takes them all (up to ``max_texts``)
  without waiting again. Under load the batches grow by themselves; alone, a request waits ``max_wait_s``;
- the model runs in ``workers`` threads, off the event loop, so ``/healthz`` and the other routes answer
  during a load;
- past ``max_queue`` waiting texts a request is refused at once (:class:`Overloaded`: 503 with
  ``Retry-After``) instead of piling up until every client times out.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from badbuzz.models.serving.thread_names import name_os_thread

R = TypeVar("R")
ANSWERS_PER_TURN = 8  # requests a call wakes per turn of the event loop (DynamicBatcher._answer)
Run = Callable[[list[str], list[str | None]], Sequence[R]]


class Overloaded(Exception):
    """More texts wait than the queue holds: come back in ``retry_after_s``."""

    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(f"{waiting} texts are waiting to be scored; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class _Job(Generic[R]):
    texts: list[str]
    langs: list[str | None]
    future: asyncio.Future[list[R]]
    queued: float = field(default_factory=time.perf_counter)


class BatchMetrics:
    """Texts per model call, time queued, refusals: what an operator tunes ``max_wait_s`` and the queue by."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.texts = Histogram("badbuzz_api_batch_texts", "Texts per model call of the scoring endpoint",
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=registry)
        self.queued = Histogram("badbuzz_api_batch_wait_seconds", "Time a scoring request waited for its call",
                                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
                                registry=registry)
        self.refused = Counter("badbuzz_api_overloaded", "Scoring requests refused with 503 (queue full)",
                               registry=registry)


class DynamicBatcher(Generic[R]):
    """Gathers concurrent :meth:`submit` calls into calls of ``run(texts, langs)`` (one result per text)."""

    def __init__(self, run: Run[R], *, max_texts: int = 64, max_wait_s: float = 0.005, max_queue: int = 2048,
                 workers: int = 1, metrics: BatchMetrics | None = None) -> None:
        if max_texts < 1 or max_queue < 1 or max_wait_s < 0 or workers < 1:
            raise ValueError("max_texts, max_queue and workers must be >= 1 and max_wait_s >= 0")
        self.run, self.max_texts, self.max_wait_s, self.max_queue = run, max_texts, max_wait_s, max_queue
        self.workers = workers
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="badbuzz-score",
                                            initializer=name_os_thread)
        self._pending: list[_Job[R]] = []
        self._waiting = 0  # texts in ``_pending``
        self._running = 0  # calls in flight (at most ``workers``)
        self._timer: asyncio.TimerHandle | None = None
        self._last_call_s = 0.0

    @property
    def waiting(self) -> int:
        return self._waiting

    async def submit(self, texts: list[str], langs: list[str | None]) -> list[R]:
        """The results for ``texts``, scored in a call shared with whatever else is waiting."""
        if self._waiting + len(texts) > self.max_queue and self._waiting:
            if self.metrics:
                self.metrics.refused.inc()
            # by then the queue has drained: the texts ahead of this one, at the pace of the last call
            per_text = self._last_call_s / max(1, self.max_texts)
            raise Overloaded(self._waiting, max(1, math.ceil(self._waiting * per_text)))
        loop = asyncio.get_running_loop()
        job: _Job[R] = _Job(texts, langs, loop.create_future())
        self._pending.append(job)
        self._waiting += len(texts)
        if self._running < self.workers:
            if self._waiting >= self.max_texts or self.max_wait_s == 0:
                self._start(loop)
            elif self._timer is None:
                self._timer = loop.call_later(self.max_wait_s, self._start, loop)
        return await job.future

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _take(self) -> list[_Job[R]]:
        """The next call's jobs: whole requests, up to ``max_texts`` texts (a larger request goes alone)."""
        jobs: list[_Job[R]] = []
        count = 0
        while self._pending and (not jobs or count + len(self._pending[0].texts) <= self.max_texts):
            job = self._pending.pop(0)
            count += len(job.texts)
            if not job.future.done():  # a client that went away is not scored
                jobs.append(job)
        self._waiting -= count
        return jobs

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running >= self.workers:
            return
        jobs = self._take()
        if not jobs:
            return
        self._running += 1
        now = time.perf_counter()
        if self.metrics:
            self.metrics.texts.observe(sum(len(j.texts) for j in jobs))
            for job in jobs:
                self.metrics.queued.observe(now - job.queued)
        done = self._executor.submit(self._call, jobs)
        done.add_done_callback(lambda f: loop.call_soon_threadsafe(self._finish, loop, jobs, f))

    def _call(self, jobs: list[_Job[R]]) -> list[list[R]]:
        started = time.perf_counter()
        texts = [t for job in jobs for t in job.texts]
        langs = [lang for job in jobs for lang in job.langs]
        results = list(self.run(texts, langs))
        if len(results) != len(texts):
            raise RuntimeError(f"the model gave {len(results)} results for {len(texts)} texts")
        self._last_call_s = time.perf_counter() - started
        out, at = [], 0
        for job in jobs:
            out.append(results[at: at + len(job.texts)])
            at += len(job.texts)
        return out

    def _finish(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job[R]], done: ThreadFuture[list[list[R]]]) -> None:
        self._running -= 1
        error = done.exception()
        results = done.result() if error is None else []
        self._answer(loop, jobs, results, error, 0)
        if self._pending:  # they waited through a whole call already: go at once
            self._start(loop)

    def _answer(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job[R]], results: list[list[R]],
                error: BaseException | None, start: int) -> None:
        """Wake the requests of a call :data:`ANSWERS_PER_TURN` at a time, one slice per turn of the loop. Woken
        all at once, the 64 requests of a full call are answered in one turn (~20 ms on 2 cores), and a request
        that arrives meanwhile, ``/healthz`` included, waits for all of them: between two slices the loop
        reads its sockets again."""
        for i in range(start, min(start + ANSWERS_PER_TURN, len(jobs))):
            job = jobs[i]
            if job.future.done():
                continue
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(results[i])
        if start + ANSWERS_PER_TURN < len(jobs):
            loop.call_soon(self._answer, loop, jobs, results, error, start + ANSWERS_PER_TURN)
