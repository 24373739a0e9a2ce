"""``badbuzz ingest jsonl FILE|-``: JSON lines from any upstream tool into ``tweets.raw``.

Each line is one ``tweets.raw`` record (``{id, text, created_at, user?, lang?, topics?}``), checked with the
scorer's own rules; a bad line is reported with its number and reason on stderr and not produced, the rest
go on. The exit status says whether every line was accepted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO

from badbuzz.stream.sources.sink import RawSink


def ingest_lines(lines: Iterable[bytes], sink: RawSink, errors: IO[str] = sys.stderr) -> tuple[int, int]:
    """(accepted, refused)."""
    accepted = refused = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        sink.seen()
        if reason := sink.put_value(line):
            refused += 1
            errors.write(f"line {number}: {reason}\n")
        else:
            accepted += 1
    sink.flush()
    return accepted, refused
