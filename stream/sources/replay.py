"""Replay Sentiment140 as a live stream: shuffled, re-timed on a stream clock, paced by a speed factor.

The real 1.6M-row file is sorted negatives first, so it is never streamed in file order. A plain file is
indexed by line offsets (8 bytes a row) and read in a seeded random order; a compressed file, which cannot
be seeked cheaply, is read once into memory and shuffled.
"""

from __future__ import annotations

import csv
import json
import operator
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from badbuzz.models.data import Sentiment140Row, iter_sentiment140, parse_s140_date

_COMPRESSED = {".xz", ".gz", ".bz2", ".zip"}


def shuffled_rows(path: Path, *, seed: int, limit: int | None = None) -> Iterator[Sentiment140Row]:
    """Rows of a Sentiment140 file in a seeded uniformly random order (optionally only ``limit`` of them)."""
    rng = random.Random(seed)
    if path.suffix.lower() in _COMPRESSED:
        rows = list(iter_sentiment140(path))
        rng.shuffle(rows)
        yield from rows[:limit] if limit is not None else rows
        return
    offsets = _line_offsets(path)
    rng.shuffle(offsets)
    if limit is not None:
        offsets = offsets[:limit]
    with open(path, "rb") as fh:
        for off in offsets:
            fh.seek(off)
            line = fh.readline().decode("latin-1")
            fields = next(csv.reader([line]))
            if len(fields) == 6 and fields[0].strip() in {"0", "2", "4"}:
                yield Sentiment140Row(int(fields[0]), fields[1], parse_s140_date(fields[2]), fields[3],
                                      fields[4], fields[5])


def _line_offsets(path: Path) -> list[int]:
    offsets = []
    pos = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                offsets.append(pos)
            pos += len(line)
    return offsets


@dataclass(frozen=True, slots=True)
class ReplayTweet:
    """One replayed tweet: the message fields plus its label (ground truth, never sent to the scorer)."""

    id: str
    text: str
    created_at: datetime
    user: str
    label: str

    def record(self) -> bytes:
        """The ``tweets.raw`` value of this tweet (the label is ground truth and is not sent)."""
        return json.dumps({"id": self.id, "text": self.text, "created_at": self.created_at.isoformat(),
                           "user": self.user}, ensure_ascii=False).encode("utf-8")


def retime(rows: Iterable[Sentiment140Row], *, start: datetime, per_minute: float, seed: int,
           id_prefix: str = "") -> Iterator[ReplayTweet]:
    """Give rows stream timestamps: Poisson arrivals at ``per_minute`` tweets per minute from ``start``."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    rng = random.Random(seed)
    t = start
    for row in rows:
        t += timedelta(seconds=rng.expovariate(per_minute / 60.0))
        yield ReplayTweet(f"{id_prefix}{row.id}", row.text, t, row.user, row.label)


T = TypeVar("T")


def paced(items: Iterable[T], *, speed: float, when: Callable[[T], datetime] = operator.attrgetter("created_at"),
          monotonic: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[T]:
    """Release items when the stream clock reaches their time ``when(item)``: ``speed`` stream seconds per
    wall second. ``speed <= 0`` means as fast as possible.
    """
    origin_wall: float | None = None
    origin_stream: datetime | None = None
    for tw in items:
        if speed > 0:
            if origin_wall is None or origin_stream is None:
                origin_wall, origin_stream = monotonic(), when(tw)
            due = origin_wall + (when(tw) - origin_stream).total_seconds() / speed
            wait = due - monotonic()
            if wait > 0:
                sleep(wait)
        yield tw
