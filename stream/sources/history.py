"""Reading any tweet history: CSV with a header, JSON lines, or Sentiment140's own headerless format.

``badbuzz backtest`` and ``badbuzz replay --keep-time`` both read a file of past tweets whose columns the
user names (``--text-column``, ``--time-column``, ``--topic-column``, ``--label-column``). Rows that
cannot be used (no text, a time that is not a time) are counted with the first reasons, not fatal: a real
export always has a few; a file where most rows fail is refused with the reasons.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from badbuzz.models.data import LABELS_BY_TARGET, DataFormatError, open_text, parse_s140_date

Format = Literal["auto", "csv", "jsonl", "sentiment140"]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: str
    text: str
    created_at: datetime
    topics: tuple[str, ...] = ()
    label: str | None = None


@dataclass(frozen=True)
class Columns:
    text: str = "text"
    time: str = "created_at"
    topic: str | None = None
    label: str | None = None
    id: str = "id"


@dataclass
class ReadReport:
    rows: int = 0
    used: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common(5))
        return f"{self.used:,} of {self.rows:,} rows used" + (f"; skipped: {reasons}" if reasons else "")


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` allowed; no zone means UTC), Unix seconds or milliseconds, or Sentiment140's
    ``Mon Apr 06 22:19:45 PDT 2009``; None for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    try:
        number = float(raw)
    except ValueError:
        pass
    else:
        return parse_time(number)
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return parse_s140_date(raw)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def detect_format(path: Path) -> Format:
    with open_text(path, "utf-8") as fh:
        try:
            head = fh.read(4096)
        except UnicodeDecodeError:
            head = ""
    first = head.lstrip()[:1]
    if first in ("{", "["):
        return "jsonl"
    row = next(csv.reader([head.splitlines()[0] if head else ""]), [])
    if len(row) == 6 and row[0].strip() in {"0", "2", "4"}:
        return "sentiment140"
    return "csv"


def read_history(path: Path, columns: Columns, fmt: Format = "auto", report: ReadReport | None = None,
                 max_bad_share: float = 0.5) -> Iterator[HistoryRow]:
    """The usable rows of ``path`` in file order (``report`` counts the rest)."""
    report = report if report is not None else ReadReport()
    kind = detect_format(path) if fmt == "auto" else fmt
    source = _records(path, kind)
    for i, record in enumerate(source):
        report.rows += 1
        row = _row(record, columns, i)
        if isinstance(row, str):
            report.skipped[row] += 1
            if report.rows >= 100 and sum(report.skipped.values()) > max_bad_share * report.rows:
                raise DataFormatError(f"{path}: most rows are unusable ({report.describe()}); check --format and "
                                      f"the column names (--text-column {columns.text} --time-column {columns.time})")
            continue
        report.used += 1
        yield row
    if report.rows and not report.used:
        raise DataFormatError(f"{path}: no usable row ({report.describe()})")


def _records(path: Path, kind: str) -> Iterator[dict[str, Any]]:
    if kind == "sentiment140":
        with open_text(path, "latin-1") as fh:
            for fields in csv.reader(fh):
                if len(fields) != 6:
                    yield {}
                    continue
                target = fields[0].strip()
                label = LABELS_BY_TARGET.get(int(target)) if target in {"0", "2", "4"} else None
                yield {"id": fields[1], "created_at": fields[2], "text": fields[5], "label": label,
                       "polarity": label, "user": fields[4]}  # either name gives the label's name
    elif kind == "jsonl":
        with open_text(path, "utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError:
                    yield {"__error__": "invalid JSON"}
                    continue
                yield doc if isinstance(doc, dict) else {"__error__": "not a JSON object"}
    else:
        with open_text(path, "utf-8") as fh:
            yield from csv.DictReader(fh)


def _row(record: dict[str, Any], columns: Columns, index: int) -> HistoryRow | str:
    if "__error__" in record:
        return str(record["__error__"])
    if not record:
        return "wrong number of columns"
    text = record.get(columns.text)
    if not isinstance(text, str) or not text.strip():
        return f"no text in column {columns.text!r}"
    created = parse_time(record.get(columns.time))
    if created is None:
        return f"no usable time in column {columns.time!r}"
    topics: tuple[str, ...] = ()
    if columns.topic:
        raw = record.get(columns.topic)
        values = raw if isinstance(raw, list) else str(raw or "").split(",")
        topics = tuple(dict.fromkeys(str(t).strip() for t in values if str(t).strip()))
    label = None
    if columns.label:
        value = record.get(columns.label)
        if value is None or not str(value).strip():
            return f"no label in column {columns.label!r}"
        label = str(value).strip().lower()
    ident = record.get(columns.id)
    return HistoryRow(str(ident) if ident not in (None, "") else f"row-{index}", text, created, topics, label)
