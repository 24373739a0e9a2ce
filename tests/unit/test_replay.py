from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from badbuzz.models.data import iter_sentiment140
from badbuzz.stream.sources.replay import paced, retime, shuffled_rows

SORTED = "sentiment140/original_bytes_slice_NOT_RANDOM.csv.xz"


def test_sorted_file_is_interleaved(data_dir: Path) -> None:
    first = [r.label for r in shuffled_rows(data_dir / SORTED, seed=3, limit=400)]
    counts = Counter(first)
    assert 150 < counts["negative"] < 250, counts


def test_plain_file_uses_offsets_and_is_seeded(data_dir: Path, tmp_path: Path) -> None:
    plain = tmp_path / "training.1600000.processed.noemoticon.csv"
    rows = list(iter_sentiment140(data_dir / SORTED))[:3000]
    plain.write_bytes(b"".join(
        (f'"{r.target}","{r.id}","Mon Apr 06 22:19:45 PDT 2009","NO_QUERY","{r.user}",'
         + '"' + r.text.replace('"', '""') + '"\n').encode("latin-1")
        for r in rows))
    a = [r.id for r in shuffled_rows(plain, seed=5)]
    b = [r.id for r in shuffled_rows(plain, seed=5)]
    assert a == b and sorted(a) == sorted(r.id for r in rows) and a != [r.id for r in rows]
    assert len(list(shuffled_rows(plain, seed=5, limit=10))) == 10


def test_retime_assigns_increasing_aware_times_at_the_rate(data_dir: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = list(retime(shuffled_rows(data_dir / SORTED, seed=1, limit=600), start=start, per_minute=60, seed=1,
                      id_prefix="x-"))
    times = [t.created_at for t in out]
    assert times == sorted(times) and times[0] > start
    span_min = (times[-1] - start).total_seconds() / 60
    assert 9 < span_min < 11  # 600 tweets at 60/min ≈ 10 minutes
    doc = json.loads(out[0].record())
    assert doc["id"].startswith("x-") and "label" not in doc
    with pytest.raises(ValueError):
        next(retime([], start=datetime(2026, 1, 1), per_minute=1, seed=1))


def test_paced_sleeps_by_speed_factor() -> None:
    class Clock:
        now = 0.0

    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        Clock.now += s

    start = datetime(2026, 1, 1, tzinfo=UTC)
    from badbuzz.stream.sources.replay import ReplayTweet

    tweets = [ReplayTweet(str(i), "t", start + timedelta(seconds=60 * i), "u", "negative") for i in range(4)]
    out = list(paced(tweets, speed=60, monotonic=lambda: Clock.now, sleep=sleep))
    assert len(out) == 4
    assert slept == pytest.approx([1.0, 1.0, 1.0])


def test_keep_time_replays_a_history_by_its_own_clock_moved_to_now(tmp_path: Path) -> None:
    """Two tweets ten minutes apart in 2009, replayed at 600x: they arrive about a second apart, dated now."""
    history = tmp_path / "incident.jsonl"
    history.write_text("\n".join(json.dumps(d) for d in [
        {"id": "b", "text": "still stuck at the gate", "when": "2009-06-01T10:10:00Z", "t": "delays"},
        {"id": "a", "text": "flight delayed again", "when": "2009-06-01T10:00:00Z", "t": "delays,air-paradis"},
        {"id": "c", "text": "", "when": "2009-06-01T10:05:00Z"},
    ]) + "\n")
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "badbuzz.services.cli", "replay", str(history), "--keep-time",
                          "--speed", "600", "--to", "stdout", "--time-column", "when", "--topic-column", "t"],
                         capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert out.returncode == 0, out.stderr[-2000:]
    sent = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["id"] for d in sent] == ["a", "b"] and sent[0]["topics"] == ["delays", "air-paradis"]
    first, second = (datetime.fromisoformat(d["created_at"]) for d in sent)
    assert (second - first).total_seconds() == 600
    assert abs((first - datetime.now(UTC)).total_seconds()) < 120  # moved to now, not 2009
    assert took >= 1.0  # paced: 600 stream seconds at 600x
    assert "2 of 3 rows used" in out.stderr and "no text" in out.stderr
