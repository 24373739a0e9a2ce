"""A sink the unit tests read back: what the scoring pipeline sent to ``tweets.scored`` or ``tweets.dlq``."""

from __future__ import annotations

from typing import TypeVar

from badbuzz.stream.scoring.sinks import Sink

T = TypeVar("T")


class ListSink(Sink[T]):
    """Keeps records in memory, in the order they were added."""

    def __init__(self) -> None:
        self.items: list[T] = []

    def add(self, item: T) -> None:
        self.items.append(item)

    def flush(self) -> None:
        return None
