"""Sinks behind one small interface: ``add()`` records, ``flush()`` makes them durable.

Kafka (faust or kafka-python), the in-memory list used by the embedded mode and tests, and the console all
implement it, so the scoring pipeline never knows which mode it runs in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Sink(ABC, Generic[T]):
    @abstractmethod
    def add(self, item: T) -> None:
        """Queue one record (may send it at once)."""

    def add_many(self, items: Iterable[T]) -> None:
        for item in items:
            self.add(item)

    @abstractmethod
    def flush(self) -> None:
        """Block until every queued record is durable; raise if it cannot be."""


class NullSink(Sink[T]):
    """Drops records: for a stage whose output nobody consumes (e.g. benchmarks of the store alone)."""

    def add(self, item: T) -> None:
        return None

    def flush(self) -> None:
        return None
