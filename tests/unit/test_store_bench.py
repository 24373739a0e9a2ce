"""bench/store_write.py writes what it says it measures: every batch of every writer lands in the table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import create_engine, func, select

from badbuzz.services.storage.tables import ScoredTweetRow, TweetTopicRow

ROOT = Path(__file__).resolve().parents[2]


def test_store_bench_writes_every_row_it_times(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("store_write", ROOT / "bench" / "store_write.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    results = bench.measure(url, 3, 8, "t")
    assert len(results) == 3 and all(us > 0 for us in results.values())
    engine = create_engine(url)
    with engine.connect() as conn:
        for writer in range(3):
            n = conn.execute(select(func.count()).where(ScoredTweetRow.tweet_id.like(f"t-{writer}-%"))).scalar_one()
            assert n == 3 * 8, (writer, n)
        # only ScoreStore.write files topics: one or two per tweet, as the batches are built
        topics = conn.execute(select(func.count()).select_from(TweetTopicRow)).scalar_one()
    assert topics == sum(2 if k % 3 else 1 for k in range(24))
