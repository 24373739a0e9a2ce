"""``badbuzz replay``: Sentiment140 as a paced live stream to Kafka (or stdout as JSON lines)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from tqdm.auto import tqdm

from badbuzz.models.data import find_sentiment140
from badbuzz.services.settings import Settings
from badbuzz.stream.kafka_io import ensure_topics, make_producer, replay_record
from badbuzz.stream.replay import paced, retime, shuffled_rows


def run_replay(settings: Settings, *, limit: int | None, per_minute: float, speed: float, seed: int,
               id_prefix: str, to: str) -> int:
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")
    data = find_sentiment140(settings.data)
    start = datetime.now(UTC).replace(microsecond=0)
    stream = paced(retime(shuffled_rows(data, seed=seed, limit=limit), start=start, per_minute=per_minute,
                          seed=seed, id_prefix=id_prefix), speed=speed)
    if to == "stdout":
        n = 0
        for tw in stream:
            sys.stdout.write(replay_record(tw).decode() + "\n")
            n += 1
        return n
    if settings.kafka_bootstrap is None:
        raise SystemExit("replay to Kafka needs BADBUZZ_KAFKA_BOOTSTRAP (or --to stdout)")
    ensure_topics(settings.kafka_bootstrap, [settings.topic_raw], settings.partitions,
                  settings.kafka_max_request_bytes)
    producer = make_producer(settings.kafka_bootstrap, settings.kafka_max_request_bytes)
    n = 0
    try:
        for tw in tqdm(stream, total=limit, desc="replay", unit="tweet"):
            producer.send(settings.topic_raw, key=tw.id.encode(), value=replay_record(tw))
            n += 1
        producer.flush()
    finally:
        producer.close()
    print(f"replayed {n} tweets from {data} to {settings.topic_raw}")
    return n
