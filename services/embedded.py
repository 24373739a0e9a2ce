"""Embedded mode: the same stages in one process — in-process topic, SQLite, sinks in memory or files.

A producer thread puts messages on an in-process topic (a bounded queue: backpressure, not unbounded
memory); the consumer loop micro-batches them with :class:`MicroBatcher` on the monotonic clock and runs the
same :class:`ScoringPipeline` as the Kafka scorer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from badbuzz.stream.contracts import IncomingMessage, Origin
from badbuzz.stream.scoring.batcher import MicroBatcher
from badbuzz.stream.scoring.pipeline import BatchResult, ScoringPipeline

_END = object()


class InProcessTopic:
    """A single-partition in-process topic with offsets, standing in for Kafka."""

    def __init__(self, name: str, maxsize: int = 10_000) -> None:
        self.name = name
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._offset = 0
        self._lock = threading.Lock()

    def produce(self, value: bytes, key: bytes | None = None) -> None:
        with self._lock:
            offset = self._offset
            self._offset += 1
        origin = Origin(self.name, 0, offset, int(time.time() * 1000))
        self._queue.put(IncomingMessage(value=value, key=key, origin=origin))

    def close(self) -> None:
        self._queue.put(_END)

    def get(self, timeout: float | None) -> IncomingMessage | None:
        """Next message, ``None`` on timeout; raises :class:`EOFError` once the producer closed the topic."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _END:
            raise EOFError
        assert isinstance(item, IncomingMessage)
        return item


@dataclass
class RunTotals:
    scored: int = 0
    inserted: int = 0
    dead: int = 0
    batches: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, r: BatchResult) -> None:
        self.scored += r.scored
        self.inserted += r.inserted
        self.dead += r.dead
        self.batches += 1


def consume(topic: InProcessTopic, pipeline: ScoringPipeline, batcher: MicroBatcher[IncomingMessage],
            on_batch: Callable[[BatchResult], None] | None = None) -> RunTotals:
    """Drain ``topic`` through ``pipeline`` until the producer closes it."""
    totals = RunTotals()
    started = time.perf_counter()

    def run(batch: list[IncomingMessage]) -> None:
        if batch:
            result = pipeline.process(batch)
            totals.add(result)
            if on_batch:
                on_batch(result)

    while True:
        try:
            msg = topic.get(timeout=batcher.time_until_due() if len(batcher) else 0.5)
        except EOFError:
            run(batcher.flush())
            break
        if msg is not None:
            full = batcher.add(msg)
            if full:
                run(full)
        due = batcher.due()
        if due:
            run(due)
    totals.seconds = time.perf_counter() - started
    return totals


def produce_in_thread(topic: InProcessTopic, values: Iterable[tuple[bytes, bytes | None]]) -> threading.Thread:
    """Start a daemon thread that produces ``values`` (value, key) to ``topic`` then closes it."""

    def run() -> None:
        try:
            for value, key in values:
                topic.produce(value, key)
        finally:
            topic.close()

    thread = threading.Thread(target=run, name="inproc-producer", daemon=True)
    thread.start()
    return thread
