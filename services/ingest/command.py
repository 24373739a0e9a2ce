"""``badbuzz ingest {bluesky,x,jsonl}``: build the sink (Kafka, or stdout with ``--dry-run``), the metrics
and the connector from the settings, and run it until it ends or is stopped (Ctrl-C / SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from badbuzz.services.cli_args import Subparsers
from badbuzz.services.settings import Settings
from badbuzz.services.signals import stop_requested
from badbuzz.stream.scoring.metrics import serve_metrics
from badbuzz.stream.sources.sink import ConnectorMetrics, RawSink


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ing = sub.add_parser("ingest", help="bring a live feed into tweets.raw (Bluesky, X, or JSON lines)")
    kinds = ing.add_subparsers(dest="source", required=True)
    b = kinds.add_parser("bluesky", help="public Bluesky posts through Jetstream (no account needed)")
    b.add_argument("--keyword", action="append", default=[], help="a word or phrase about the brand (repeat)")
    b.add_argument("--handle", action="append", default=[], help="a handle whose mentions count (repeat)")
    b.add_argument("--did", action="append", default=[], help="a DID whose mentions count (repeat)")
    b.add_argument("--lang", action="append", default=[], help="keep only these languages (repeat; e.g. en, fr)")
    b.add_argument("--url", default=None, help="Jetstream subscribe URL (default: Bluesky's public instance)")
    b.add_argument("--cursor-file", type=Path, help="where the resume cursor lives (default HOME/ingest/)")
    x = kinds.add_parser("x", help="the X API v2 filtered stream (BADBUZZ_X_BEARER_TOKEN)")
    x.add_argument("--rule", action="append", default=[], help='a filtered-stream rule, e.g. \'"air paradis" OR '
                                                                "@airparadis' (repeat); default: one per topic "
                                                                "the topics file follows, tagged with it")
    x.add_argument("--api", default=None, help="API base URL (default https://api.x.com)")
    j = kinds.add_parser("jsonl", help="JSON lines (one tweets.raw record each) from a file or '-' for stdin")
    j.add_argument("file", help="path, or - for stdin")
    for p in (b, x, j):
        p.add_argument("--dry-run", action="store_true", help="print the records instead of producing them")


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    registry = CollectorRegistry()
    metrics = ConnectorMetrics(registry, args.source)
    producer = None
    if not args.dry_run:
        if settings.kafka_bootstrap is None:
            raise SystemExit("ingest needs BADBUZZ_KAFKA_BOOTSTRAP (or --dry-run to print the records)")
        from badbuzz.stream.kafka.clients import ensure_topics, make_producer

        security = settings.kafka_security()
        ensure_topics(settings.kafka_bootstrap, [settings.kafka_topic_raw], settings.partitions,
                      settings.kafka_max_request_bytes, security, config=settings.kafka_topic_config())
        producer = make_producer(settings.kafka_bootstrap, settings.kafka_max_request_bytes, security)
        serve_metrics(registry, settings.metrics_port, settings.metrics_addr,
                      targets_dir=settings.prometheus_targets, service=f"ingest-{args.source}",
                      labels=settings.target_labels)
    matcher = settings.topic_matcher()
    sink = RawSink(metrics, settings.limits, producer=producer, topic=settings.kafka_topic_raw, topics=matcher)
    stopping = stop_requested()
    try:
        if args.source == "jsonl":
            from badbuzz.stream.sources.jsonl import ingest_lines

            if args.file == "-":
                accepted, refused = ingest_lines(sys.stdin.buffer, sink)
            else:
                with open(args.file, "rb") as fh:
                    accepted, refused = ingest_lines(fh, sink)
            print(f"{accepted} accepted, {refused} refused", file=sys.stderr)
            return 0 if refused == 0 else 1
        if args.source == "bluesky":
            from badbuzz.stream.sources.bluesky import PostFilter
            from badbuzz.stream.sources.bluesky_client import DEFAULT_JETSTREAM, CursorFile, run_bluesky

            keywords, handles = list(args.keyword), list(args.handle)
            if not (keywords or handles or args.did):  # what the followed topics name, as words in the text
                words, mentioned = matcher.follow_terms()
                keywords = words + mentioned
                if not keywords:
                    raise SystemExit("ingest bluesky: give --keyword/--handle, or mark the brand's topic "
                                     '"follow": true in BADBUZZ_TOPICS_FILE')
            flt = PostFilter(tuple(keywords), tuple(handles), tuple(args.did), tuple(args.lang))
            cursor = CursorFile(args.cursor_file or settings.home / "ingest" / "bluesky.cursor")
            asyncio.run(run_bluesky(args.url or DEFAULT_JETSTREAM, flt, sink, cursor, stop=stopping))
            return 0
        from badbuzz.stream.sources.x_client import DEFAULT_API, XApi, run_x

        if settings.x_bearer_token is None:
            raise SystemExit("ingest x needs BADBUZZ_X_BEARER_TOKEN (an X app's bearer token)")
        rules: list[str | tuple[str, str]] = list(args.rule) or list(matcher.x_rules())
        if not rules:
            raise SystemExit('ingest x: give --rule, or mark the brand\'s topic "follow": true in BADBUZZ_TOPICS_FILE')
        api = XApi(args.api or DEFAULT_API, settings.x_bearer_token.get_secret_value())
        try:
            run_x(api, rules, sink, stop=stopping)
        finally:
            api.close()
        return 0
    finally:
        if producer is not None:
            producer.flush(30)
            producer.close()


def register(sub: Subparsers) -> None:
    add_parser(sub)
    sub.choices["ingest"].set_defaults(run=run_ingest)
