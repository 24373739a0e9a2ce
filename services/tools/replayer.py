"""``badbuzz replay``: Sentiment140, the standard scenario, or any tweet history (``--keep-time``) as a paced
live stream to Kafka (or stdout as JSON lines)."""

from __future__ import annotations

import argparse
import json
import operator
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tqdm.auto import tqdm

from badbuzz.models.data import find_sentiment140
from badbuzz.services.cli_args import Subparsers, columns, history_columns, updated
from badbuzz.services.settings import Settings
from badbuzz.stream.kafka.clients import ensure_topics, make_producer
from badbuzz.stream.simulation.scenario import StreamTweet, generate, standard_scenario
from badbuzz.stream.sources.history import Columns, Format, HistoryRow, ReadReport, read_history
from badbuzz.stream.sources.replay import paced, retime, shuffled_rows


def scenario_record(tw: StreamTweet) -> bytes:
    return json.dumps({"id": tw.id, "text": tw.text, "created_at": tw.created_at.isoformat(),
                       "topics": list(tw.topics)}, ensure_ascii=False).encode("utf-8")


def run_scenario_replay(settings: Settings, *, seed: int, days: float, speed: float, truth: Path | None,
                        to: str) -> int:
    """Replay the standard scenario (topics, daily curve, episodes) and write its ground truth."""
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")
    from badbuzz.services.tools.eval_alerts import load_pool

    data = find_sentiment140(settings.data)
    origin = datetime.now(UTC).replace(second=0, microsecond=0)
    scenario = standard_scenario(origin, seed=seed, days=days)
    if truth is not None:
        scenario.write_truth(truth)
    tweets = generate(scenario, load_pool(data))
    return _send(settings, ((t.id, scenario_record(t), t.created_at) for t in tweets), speed=speed, to=to)


def _send(settings: Settings, records: Iterable[tuple[str, bytes, datetime]], *, speed: float, to: str) -> int:
    paced_records = paced(records, speed=speed, when=operator.itemgetter(2))
    n = 0
    if to == "stdout":
        for _, value, _ in paced_records:
            sys.stdout.write(value.decode() + "\n")
            n += 1
        return n
    if settings.kafka_bootstrap is None:
        raise SystemExit("replay to Kafka needs BADBUZZ_KAFKA_BOOTSTRAP (or --to stdout)")
    ensure_topics(settings.kafka_bootstrap, [settings.kafka_topic_raw], settings.partitions,
                  settings.kafka_max_request_bytes, settings.kafka_security(), config=settings.kafka_topic_config())
    producer = make_producer(settings.kafka_bootstrap, settings.kafka_max_request_bytes, settings.kafka_security())
    try:
        for key, value, _ in tqdm(paced_records, desc="replay", unit="tweet"):
            producer.send(settings.kafka_topic_raw, key=key.encode(), value=value)
            n += 1
        producer.flush()
    finally:
        producer.close()
    print(f"replayed {n} tweets to {settings.kafka_topic_raw}")
    return n


def run_replay(settings: Settings, *, limit: int | None, per_minute: float, speed: float, seed: int,
               id_prefix: str, to: str) -> int:
    """Sentiment140 rows, shuffled and re-timed at ``per_minute``, to ``tweets.raw`` (or stdout)."""
    if settings.data is None:
        raise SystemExit("pass --data or set BADBUZZ_DATA")
    data = find_sentiment140(settings.data)
    start = datetime.now(UTC).replace(microsecond=0)
    tweets = retime(shuffled_rows(data, seed=seed, limit=limit), start=start, per_minute=per_minute, seed=seed,
                    id_prefix=id_prefix)
    return _send(settings, ((t.id, t.record(), t.created_at) for t in tweets), speed=speed, to=to)


def history_records(rows: Iterable[HistoryRow], *, start: datetime | None) -> Iterator[tuple[str, bytes, datetime]]:
    """(key, ``tweets.raw`` value, pacing time) per row, in time order. With ``start``, every time is moved
    by the same offset so the first tweet is dated ``start`` (a 2009 incident replayed today is scored,
    not dead-lettered as too old, and its minutes keep their spacing); without, the file's own dates."""
    offset = None
    for r in rows:
        if offset is None:
            offset = (start - r.created_at) if start is not None else timedelta(0)
        created = r.created_at + offset
        doc: dict[str, object] = {"id": r.id, "text": r.text, "created_at": created.isoformat()}
        if r.topics:
            doc["topics"] = list(r.topics)
        yield r.id, json.dumps(doc, ensure_ascii=False).encode("utf-8"), created


def run_history_replay(settings: Settings, path: Path, *, columns: Columns, fmt: Format, speed: float, to: str,
                       original_dates: bool) -> int:
    """``badbuzz replay FILE --keep-time``: any history, paced by its own timestamps at ``speed``."""
    report = ReadReport()
    rows = sorted(read_history(path, columns, fmt, report), key=lambda r: r.created_at)
    print(f"replay: {report.describe()}", file=sys.stderr)
    start = None if original_dates else datetime.now(UTC).replace(microsecond=0)
    return _send(settings, history_records(rows, start=start), speed=speed, to=to)


def register(sub: Subparsers) -> None:
    r = sub.add_parser("replay", help="replay Sentiment140 (re-timed) or any history (--keep-time) to tweets.raw")
    r.add_argument("file", type=Path, nargs="?",
                   help="with --keep-time: a tweet history (CSV, JSON lines, Sentiment140)")
    r.add_argument("--keep-time", action="store_true",
                   help="pace FILE by its own timestamps (at --speed), shifted so its first tweet is now")
    r.add_argument("--original-dates", action="store_true", help="with --keep-time: send the file's own dates")
    history_columns(r, labels=False)
    r.add_argument("--data", type=Path)
    r.add_argument("--limit", type=int, default=None, help="tweets to send (default: the whole file)")
    r.add_argument("--per-minute", type=float, default=60.0, help="stream-time tweets per minute")
    r.add_argument("--speed", type=float, default=0.0, help="stream seconds per wall second (0: max)")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--id-prefix", default="")
    r.add_argument("--to", choices=["kafka", "stdout"], default="kafka")
    r.add_argument("--scenario", action="store_true",
                   help="shaped volume, topics and injected bad-buzz episodes (stream/simulation/scenario.py)")
    r.add_argument("--days", type=float, default=1.0, help="scenario length in stream days")
    r.add_argument("--truth", type=Path, help="where to write the scenario's ground truth (JSON)")
    r.set_defaults(run=run_replay_command)


def run_replay_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.keep_time or args.file is not None:
        if args.file is None or not args.keep_time:
            raise SystemExit("replay FILE needs --keep-time (and --keep-time needs a FILE)")
        run_history_replay(settings, args.file, columns=columns(args), fmt=args.format, speed=args.speed,
                           to=args.to, original_dates=args.original_dates)
        return 0
    s = updated(settings, data=args.data)
    if args.scenario:
        run_scenario_replay(s, seed=args.seed, days=args.days, speed=args.speed, truth=args.truth, to=args.to)
        return 0
    run_replay(s, limit=args.limit, per_minute=args.per_minute, speed=args.speed, seed=args.seed,
               id_prefix=args.id_prefix, to=args.to)
    return 0
