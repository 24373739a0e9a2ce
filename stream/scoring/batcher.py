"""A micro-batcher: collect items until ``max_size`` or until the oldest has waited ``max_wait_s``.

Pure logic with an injected clock (no sleeping, no threads): sources call :meth:`add` and :meth:`due`,
and ask :meth:`time_until_due` how long they may block waiting for the next item. The faust app uses the
equivalent ``stream.take_events(max, within)``; this class drives the embedded mode and plain consumers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

Clock = Callable[[], float]


class MicroBatcher(Generic[T]):
    def __init__(self, max_size: int, max_wait_s: float, clock: Clock) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._items: list[T] = []
        self._first_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T) -> list[T] | None:
        """Add one item; return the batch if it is now full, else ``None``."""
        if not self._items:
            self._first_at = self._clock()
        self._items.append(item)
        if len(self._items) >= self.max_size:
            return self.flush()
        return None

    def time_until_due(self) -> float | None:
        """Seconds until the pending batch must be flushed; ``None`` when nothing is pending."""
        if self._first_at is None:
            return None
        return max(0.0, self._first_at + self.max_wait_s - self._clock())

    def due(self) -> list[T] | None:
        """Return the pending batch if its oldest item has waited ``max_wait_s``, else ``None``."""
        remaining = self.time_until_due()
        if remaining is None or remaining > 0:
            return None
        return self.flush()

    def flush(self) -> list[T]:
        """Return whatever is pending (possibly empty) and start a new batch."""
        items, self._items, self._first_at = self._items, [], None
        return items
