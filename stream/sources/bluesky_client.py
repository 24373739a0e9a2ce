"""``badbuzz ingest bluesky``: Jetstream's WebSocket to ``tweets.raw``, resumable.

The cursor (the ``time_us`` of the last event handed on) is saved to a file only after the records before it
are acknowledged by Kafka, so a crash or a dropped connection resumes from there (rewound a few seconds:
duplicates are absorbed by the idempotent store, gaps never happen). Reconnects back off 1, 2, 4 … 60 s and
reset once events flow again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from badbuzz.stream.sources.bluesky import PostFilter, map_event, subscribe_url
from badbuzz.stream.sources.sink import RawSink

log = logging.getLogger(__name__)
DEFAULT_JETSTREAM = "wss://jetstream2.us-east.bsky.network/subscribe"


class CursorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def save(self, cursor_us: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(cursor_us))
        tmp.replace(self.path)


async def run_bluesky(url: str, flt: PostFilter, sink: RawSink, cursor: CursorFile, *,
                      stop: Callable[[], bool] = lambda: False, save_every: int = 100,
                      max_backoff_s: float = 60.0, idle_timeout_s: float = 60.0) -> None:
    """Follow Jetstream until ``stop()``; every dropped connection is reopened from the saved cursor."""
    import websockets

    delay = 1.0
    first = True
    while not stop():
        position = cursor.load()
        target = subscribe_url(url, position)
        if not first:
            sink.metrics.reconnects.inc()
        first = False
        pending, last = 0, position
        try:
            async with websockets.connect(target, max_size=2**22, open_timeout=15, ping_interval=20) as ws:
                log.info("bluesky: connected to %s (cursor %s)", url, position)
                while not stop():
                    try:
                        frame = await asyncio.wait_for(ws.recv(), timeout=idle_timeout_s)
                    except TimeoutError:
                        raise ConnectionError(f"no event for {idle_timeout_s:.0f} s") from None
                    delay = 1.0  # data flows: the next failure starts the backoff afresh
                    sink.seen()
                    try:
                        mapped = map_event(json.loads(frame), flt)
                    except (ValueError, TypeError) as exc:
                        log.warning("bluesky: skipping a malformed event: %s", exc)
                        continue
                    if mapped.filtered:
                        sink.metrics.filtered.inc()
                    if mapped.tweet is not None and (reason := sink.put(mapped.tweet)):
                        log.warning("bluesky: %s refused: %s", mapped.tweet.id, reason)
                    if mapped.deleted is not None:
                        sink.put_deletion(mapped.deleted)
                    if mapped.cursor_us is not None:
                        last, pending = mapped.cursor_us, pending + 1
                    if pending >= save_every:
                        _checkpoint(sink, cursor, last, pending)
                        pending = 0
        except (OSError, ConnectionError, websockets.WebSocketException) as exc:
            _checkpoint(sink, cursor, last, pending)
            if stop():
                break
            log.warning("bluesky: connection lost (%s); reconnecting in %.0f s", exc, delay)
            await _sleep(delay, stop)
            delay = min(max_backoff_s, delay * 2)
            continue
        _checkpoint(sink, cursor, last, pending)
    sink.flush()


def _checkpoint(sink: RawSink, cursor: CursorFile, last: int | None, pending: int) -> None:
    """Save the cursor once what came before it is acknowledged (if Kafka is down too, keep the old one)."""
    if last is None or not pending:
        return
    try:
        sink.flush()
    except Exception as exc:
        log.warning("bluesky: could not flush before saving the cursor (%s); it stays where it was", exc)
        return
    cursor.save(last)


async def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop():
        await asyncio.sleep(min(0.2, deadline - time.monotonic()))
