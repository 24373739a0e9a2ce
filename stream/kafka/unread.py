"""Which of a consumer's partitions still hold tweets it has not scored: shared by both scorer engines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping


class UnreadPartitions:
    """Which of this consumer's partitions still have tweets in Kafka beyond what it has scored.

    A partition counts as unread while the broker's high watermark is past the offset after the newest tweet
    scored from it (or, before any, past the consumer's fetch position). Offsets can have gaps a consumer never
    sees (a transactional producer's commit markers), so a partition that makes no progress for ``give_up_s``
    stops counting: the watermark may wait for unread tweets, never stall on a gap.
    """

    def __init__(self, give_up_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.give_up_s = give_up_s
        self._clock = clock
        self.read_next: dict[int, int] = {}
        self._since: dict[int, tuple[int | None, float]] = {}

    def processed(self, offsets: Iterable[tuple[int, int]]) -> None:
        for partition, offset in offsets:
            self.read_next[partition] = max(self.read_next.get(partition, 0), offset + 1)

    def reset(self) -> None:
        self.read_next.clear()
        self._since.clear()

    def unread(self, highwater: Mapping[int, int | None], position: Mapping[int, int | None]) -> frozenset[int]:
        """``highwater`` and ``position`` (next offset to fetch) per assigned partition, None when unknown."""
        now, out = self._clock(), set()
        for partition, hw in highwater.items():
            done = self.read_next.get(partition, position.get(partition))
            if hw is None or done is None or hw <= done:
                self._since.pop(partition, None)
                continue
            last, since = self._since.get(partition, (None, now))
            if last != done:  # it moved since we last looked: a fresh wait
                since = now
            self._since[partition] = (done, since)
            if now - since <= self.give_up_s:
                out.add(partition)
        return frozenset(out)
