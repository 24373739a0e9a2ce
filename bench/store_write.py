"""Store write bench: client CPU per stored row, the writer's statements built once vs built per batch.

Why: writing a 64-tweet batch is on the scorer's critical path, on the same cores as inference. SQLAlchemy
caches a compiled statement only when the statement is the same object shape each time; ``insert().values(rows)``
with a new list of rows per batch is a new statement, compiled again for every batch. ``ScoreStore`` builds its
statements once and executes them with the rows (``services/storage/scores.py``). This bench measures both on the same
rows in the same run, and the whole ``ScoreStore.write`` (memberships, minute counts, partition progress) beside
them, against a real database (PostgreSQL from ``BADBUZZ_DATABASE_URL``, or any SQLAlchemy URL).

    eval "$(bash deploy/stack.sh env)"; python bench/store_write.py "$BADBUZZ_DATABASE_URL"
    python bench/store_write.py sqlite:////tmp/store-bench.db
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from badbuzz.services.storage.scores import ScoreStore, _columns, _row, dialect_insert, make_engine
from badbuzz.services.storage.tables import ScoredTweetRow
from badbuzz.stream.contracts import Origin, RawTweet, ScoredTweet


def batches(run: str, n_batches: int, size: int) -> list[list[ScoredTweet]]:
    """Scored tweets shaped like the scorer's: one or two topics, three partitions, emotions on."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for b in range(n_batches):
        batch = []
        for i in range(size):
            k = b * size + i
            tweet = RawTweet(id=f"{run}-{k}", text=f"@AirParadis flight {k} delayed again, third time this month",
                             created_at=start + timedelta(seconds=k), user=f"user{k % 97}", lang="en",
                             topics=("airparadis", "delays") if k % 3 else ("airparadis",))
            batch.append(ScoredTweet(
                tweet=tweet, label="negative" if k % 4 == 0 else "positive",
                probabilities={"negative": 0.31, "neutral": 0.27, "positive": 0.42}, model_version="bench",
                scored_at=datetime.now(UTC), origin=Origin("tweets.raw", k % 3, k),
                emotions={"anger": 0.52, "joy": 0.18, "optimism": 0.11, "sadness": 0.19}))
        out.append(batch)
    return out


def client_cpu_per_row(write: Callable[[list[ScoredTweet]], Any], data: list[list[ScoredTweet]]) -> float:
    """Microseconds of this process's CPU per row; the first batch (connections, caches) is not counted."""
    write(data[0])
    started = time.process_time()
    for batch in data[1:]:
        write(batch)
    return 1e6 * (time.process_time() - started) / sum(len(b) for b in data[1:])


def measure(url: str, n_batches: int, size: int, run: str) -> dict[str, float]:
    """µs of client CPU per row for each writer, each on its own rows (ids ``{run}-{i}-…``)."""
    engine = make_engine(url)
    insert = dialect_insert(engine)
    table = ScoredTweetRow.__table__
    built_once = insert(table).on_conflict_do_nothing(index_elements=["tweet_id"]).returning(table.c.tweet_id)

    def per_batch(batch: list[ScoredTweet]) -> None:  # the writer before: a new statement for every batch
        rows = [_columns(_row(r)) for r in batch]
        with engine.begin() as conn:
            conn.execute(insert(table).values(rows).on_conflict_do_nothing(index_elements=["tweet_id"])
                         .returning(table.c.tweet_id)).all()

    def once(batch: list[ScoredTweet]) -> None:
        rows = [_columns(_row(r)) for r in batch]
        with engine.begin() as conn:
            conn.execute(built_once, rows).all()

    store = ScoreStore(engine)
    results: dict[str, float] = {}
    for name, write in (("tweets only, statement built per batch (baseline)", per_batch),
                        ("tweets only, statement built once", once),
                        ("ScoreStore.write (tweets, topics, minute counts, progress)", store.write)):
        results[name] = client_cpu_per_row(write, batches(f"{run}-{len(results)}", n_batches, size))
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("url", help="SQLAlchemy URL of the database to write to")
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    results = measure(args.url, args.batches, args.batch_size, uuid.uuid4().hex[:8])
    base = next(iter(results.values()))
    print(f"{args.url.split(':')[0]}, {args.batches} batches of {args.batch_size}: client CPU per row")
    print("| writer | µs/row | × baseline |\n| --- | ---: | ---: |")
    for name, us in results.items():
        print(f"| {name} | {us:.0f} | {us / base:.2f} |")
    print(json.dumps({k: round(v, 1) for k, v in results.items()}))


if __name__ == "__main__":
    main()
