"""Loaders against the real-format files in the shared data folder (byte-for-byte slices of the real file)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from badbuzz.models.data import (
    DataFormatError,
    find_sentiment140,
    iter_sentiment140,
    parse_s140_date,
    stable_bucket,
)


def test_original_bytes_slice_parses(data_dir: Path) -> None:
    rows = list(iter_sentiment140(data_dir / "sentiment140" / "original_bytes_slice_NOT_RANDOM.csv.xz"))
    assert len(rows) == 20_000
    assert Counter(r.label for r in rows) == {"negative": 9_999, "positive": 10_001}
    first = rows[0]
    assert first.id == "1467810369"
    assert first.date == datetime(2009, 4, 7, 5, 19, 45, tzinfo=UTC)
    assert first.user == "_TheSpecialOne_"
    assert first.text.startswith("@switchfoot http://twitpic.com/2y1zl")


def test_official_test_set_keeps_neutral_rows(data_dir: Path) -> None:
    rows = list(iter_sentiment140(data_dir / "sentiment140" / "testdata.manual.2009.06.14.csv"))
    assert Counter(r.target for r in rows) == {0: 177, 2: 139, 4: 182}


def test_find_prefers_official_name_and_never_the_test_set(tmp_path: Path) -> None:
    (tmp_path / "testdata.manual.2009.06.14.csv").write_text('"0","1","d","q","u","t"\n')
    with pytest.raises(FileNotFoundError, match=r"training\.1600000"):
        find_sentiment140(tmp_path)
    sample = tmp_path / "sentiment140_random_sample.csv"
    sample.write_text('"0","1","d","q","u","t"\n')
    assert find_sentiment140(tmp_path) == sample
    official = tmp_path / "sub" / "training.1600000.processed.noemoticon.csv"
    official.parent.mkdir()
    official.write_text('"0","1","d","q","u","t"\n')
    assert find_sentiment140(tmp_path) == official


@pytest.mark.parametrize(("line", "error"), [('"0","1","d"\n', "expected 6 columns"),
                                             ('"7","1","d","q","u","t"\n', "not 0, 2 or 4")])
def test_format_errors_name_the_line(tmp_path: Path, line: str, error: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text('"4","9","d","q","u","ok"\n' + line)
    with pytest.raises(DataFormatError, match=rf"bad.csv:2: .*{error}"):
        list(iter_sentiment140(f))


def test_dates_and_buckets() -> None:
    assert parse_s140_date("Mon May 11 03:17:40 UTC 2009") == datetime(2009, 5, 11, 3, 17, 40, tzinfo=UTC)
    assert parse_s140_date("not a date") is None
    assert stable_bucket("1467810369") == stable_bucket("1467810369")
    share = sum(stable_bucket(str(i)) < 10 for i in range(20_000)) / 20_000
    assert 0.09 < share < 0.11
