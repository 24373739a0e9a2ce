"""faust may commit an offset only once the scorer has made that message durable.

faust acknowledges messages that no agent ever saw. When a worker stops (a SIGTERM, a rolling restart)
``App._stop_consumer`` suspends flow control, and every message still queued for the stream is then
"skipped" *and acknowledged* (``faust/streams.py``: ``do_ack or value is skipped_value``); the commit on the
consumer's way out commits it. Nothing was stored for those messages, so they were lost: 11 of 3,512 posts
in one run of the first-week test (tests/integration/test_first_week.py), about one run in three. The same
path runs at a rebalance.

:class:`DurableFrontier` closes that door at the only place every acknowledgement meets: faust's choice of
the offset to commit (``Consumer._new_offset``). Before faust picks it, the guard hides every acknowledged
offset at or past the partition's frontier (one past the newest message the agent stored and published), so
a commit never moves past a message that is not durable. The hidden acknowledgements stay in faust's list
and count again once the frontier passes them. Whatever was not durable is read again by the partition's
next owner, and the store absorbs the duplicates.

This also covers a batch that a shutdown cancels while it waits out an outage. faust's ``take_events``
acknowledges such a batch on its way out, and the frontier stops the commit short of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)


class DurableFrontier:
    """Per partition, the offset after the newest message made durable; faust commits no further."""

    def __init__(self) -> None:
        self.next_offset: dict[Any, int] = {}  # faust TP -> one past the newest durable offset
        self.held = 0  # commits cut short so far (acknowledged offsets that were not durable)
        self._wrapped: Any = None  # the consumer whose _new_offset is wrapped (faust has one per app)

    def delivered(self, positions: Iterable[tuple[Any, int]]) -> None:
        """The (TP, offset) of every message in a batch that is now stored or dead-lettered, and published."""
        for tp, offset in positions:
            if offset + 1 > self.next_offset.get(tp, -1):
                self.next_offset[tp] = offset + 1

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions given up at a rebalance: their next owner starts from the committed offset."""
        for tp in tps:
            self.next_offset.pop(tp, None)

    def install(self, consumer: Any) -> None:
        """Wrap ``consumer._new_offset`` (faust's choice of what to commit); harmless to call again."""
        if consumer is self._wrapped:
            return
        self._wrapped = consumer
        consumer._new_offset = self.guard(consumer._new_offset, consumer._acked)

    def guard(self, new_offset: Callable[[Any], int | None], acked: Any) -> Callable[[Any], int | None]:
        def guarded(tp: Any) -> int | None:
            offsets: list[int] = acked[tp]
            limit = self.next_offset.get(tp)
            hidden = [o for o in offsets if limit is None or o >= limit]
            if not hidden:
                return new_offset(tp)
            offsets[:] = [o for o in offsets if limit is not None and o < limit]  # in place: faust holds this list
            self.held += 1
            log.debug("commit of %s held at %s: %d acknowledged offset(s) not durable yet", tp, limit, len(hidden))
            try:
                return new_offset(tp) if offsets else None
            finally:
                offsets.extend(hidden)

        return guarded
