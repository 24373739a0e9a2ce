"""Loaders for Sentiment140 in its original format (the real 1.6M-row file or any sample of it).

Format: latin-1 CSV, no header, every field quoted, six columns ``target, id, date, flag, user, text``
with target 0 = negative, 2 = neutral, 4 = positive. Files may be plain or compressed (.xz .gz .bz2 .zip).
Rows are streamed: the 1.6M file is never held twice in memory.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, cast

LABELS_BY_TARGET = {0: "negative", 2: "neutral", 4: "positive"}
OFFICIAL_TRAIN_NAME = "training.1600000.processed.noemoticon.csv"
_TZ = {"PDT": timezone(timedelta(hours=-7)), "PST": timezone(timedelta(hours=-8)), "UTC": UTC}


class DataFormatError(ValueError):
    """A file is not in the Sentiment140 format; the message says which line and why."""


@dataclass(frozen=True, slots=True)
class Sentiment140Row:
    target: int
    id: str
    date: datetime | None
    query: str
    user: str
    text: str

    @property
    def label(self) -> str:
        return LABELS_BY_TARGET[self.target]


def open_text(path: Path, encoding: str) -> IO[str]:
    """Open a plain or compressed text file for reading (newline='' as the csv module wants)."""
    suffix = path.suffix.lower()
    raw: IO[bytes]
    if suffix == ".xz":
        raw = cast(IO[bytes], lzma.open(path, "rb"))
    elif suffix == ".gz":
        raw = cast(IO[bytes], gzip.open(path, "rb"))
    elif suffix == ".bz2":
        raw = cast(IO[bytes], bz2.open(path, "rb"))
    elif suffix == ".zip":
        archive = zipfile.ZipFile(path)
        members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if not members:
            raise DataFormatError(f"{path}: the zip archive holds no .csv file")
        name = next((n for n in members if OFFICIAL_TRAIN_NAME in n), members[0])
        raw = archive.open(name, "r")
    else:
        raw = open(path, "rb")
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def parse_s140_date(raw: str) -> datetime | None:
    """``Mon Apr 06 22:19:45 PDT 2009`` → aware datetime; ``None`` when the field is not a date."""
    parts = raw.split()
    if len(parts) != 6:
        return None
    try:
        naive = datetime.strptime(" ".join(parts[:4] + parts[5:]), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    return naive.replace(tzinfo=_TZ.get(parts[4], UTC))


def iter_sentiment140(path: Path) -> Iterator[Sentiment140Row]:
    """Stream the rows of a Sentiment140-format file, raising :class:`DataFormatError` on a bad row."""
    with open_text(path, "latin-1") as fh:
        for lineno, fields in enumerate(csv.reader(fh), start=1):
            if len(fields) != 6:
                raise DataFormatError(f"{path}:{lineno}: expected 6 columns, found {len(fields)}")
            try:
                target = int(fields[0])
            except ValueError:
                raise DataFormatError(f"{path}:{lineno}: target {fields[0]!r} is not 0, 2 or 4") from None
            if target not in LABELS_BY_TARGET:
                raise DataFormatError(f"{path}:{lineno}: target {target} is not 0, 2 or 4")
            yield Sentiment140Row(target, fields[1], parse_s140_date(fields[2]), fields[3], fields[4], fields[5])


def find_sentiment140(location: Path) -> Path:
    """Resolve a file or a folder to a Sentiment140 training file.

    A folder is searched (recursively) for the official file name first, then for any file whose name
    says it is a Sentiment140 sample; the official test set is never picked as training data.
    """
    if location.is_file():
        return location
    if not location.is_dir():
        raise FileNotFoundError(f"{location} does not exist: point --data at a Sentiment140 CSV or a folder")
    candidates = sorted(p for p in location.rglob("*") if p.is_file())
    for p in candidates:
        if p.name.startswith(OFFICIAL_TRAIN_NAME):
            return p
    for p in candidates:
        name = p.name.lower()
        if "sentiment140" in name and "not_random" not in name and ".csv" in name:
            return p
    raise FileNotFoundError(
        f"no Sentiment140 training file under {location}; expected {OFFICIAL_TRAIN_NAME} "
        "(download it from the Sentiment140 site or Kaggle) or a sample of it"
    )


def stable_bucket(key: str, buckets: int = 100) -> int:
    """A split bucket that depends only on the key, so splits survive reordering and new rows."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % buckets


def data_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of the training files, recorded in every model trained on them."""
    h = hashlib.sha256()
    files: list[Path] = []
    for p in map(Path, paths):  # a folder (TweetEval) counts as all of its files
        files += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for p in sorted(files):
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
