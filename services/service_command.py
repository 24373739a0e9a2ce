"""``badbuzz services``: run one of the long-running services (scorer, alerter, API) or create the topics.

Each service's wiring lives with it (services/scorer.py, services/alerting/runner.py, services/api/runner.py);
this module only picks one, so that starting the API does not import the scorer's stack, nor the reverse.
"""

from __future__ import annotations

import argparse

from badbuzz.services.cli_args import Subparsers, updated
from badbuzz.services.settings import Settings


def register(sub: Subparsers) -> None:
    s = sub.add_parser("services", help="run a long-running service")
    s.add_argument("service", choices=["scorer", "alerter", "api", "topics"],
                   help="scorer: the Kafka scorer; alerter: detection + alert delivery; api: the HTTP API; "
                        "topics: create topics")
    s.add_argument("--host", help="api: address to listen on (default BADBUZZ_API_HOST)")
    s.add_argument("--port", type=int, help="api: port (default BADBUZZ_API_PORT)")
    s.set_defaults(run=run_service)


def run_service(args: argparse.Namespace, settings: Settings) -> int:
    if args.service == "topics":
        from badbuzz.stream.kafka.clients import ensure_topics

        if not settings.kafka_bootstrap:
            raise SystemExit("BADBUZZ_KAFKA_BOOTSTRAP is not set")
        ensure_topics(settings.kafka_bootstrap, settings.kafka_topics,
                      settings.partitions, settings.kafka_max_request_bytes, settings.kafka_security(),
                      config=settings.kafka_topic_config())
    elif args.service == "alerter":
        from badbuzz.services.alerting.runner import run_alerter

        run_alerter(settings)
    elif args.service == "api":
        from badbuzz.services.api.runner import run_api

        run_api(updated(settings, api_host=args.host, api_port=args.port))
    else:
        from badbuzz.services.scorer import run_scorer

        run_scorer(settings)
    return 0
