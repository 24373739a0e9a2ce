"""Prometheus metrics of the scorer. Every metric takes a registry, so tests use a fresh one."""

from __future__ import annotations

import atexit
import json
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
STAGES = ("validate", "score", "store", "publish")  # badbuzz_scorer_stage_cpu_seconds's stages, in order
# the kafka-python engine's own stages (stream/kafka/batch_consumer.py: polling and decoding records, committing
# offsets); faust's engine does both in its event loop, which the benchmark measures as a whole
LOOP_STAGES = ("consume", "commit")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ScorerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.tweets_scored = Counter(
            "badbuzz_tweets_scored", "Tweets scored and stored, by label and language (the feed's or the detected "
            "one; 'und' undetermined, 'other' outside the served languages)", ["label", "lang"], registry=registry
        )
        self.tweets_unscored = Counter(
            "badbuzz_tweets_unscored", "Tweets stored without a score: no model is validated on their language",
            ["lang"], registry=registry
        )
        self.rows_inserted = Counter(
            "badbuzz_rows_inserted", "Rows newly inserted into the store (replays excluded)", registry=registry
        )
        self.batch_size = Histogram(
            "badbuzz_batch_size", "Messages per micro-batch", buckets=BATCH_BUCKETS, registry=registry
        )
        self.inference_seconds = Histogram(
            "badbuzz_inference_seconds", "Model inference time per batch (tokenize + ONNX Runtime)",
            buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.store_seconds = Histogram(
            "badbuzz_store_seconds", "Time to write a batch durably", buckets=LATENCY_BUCKETS, registry=registry
        )
        self.end_to_end_latency = Histogram(
            "badbuzz_end_to_end_latency_seconds",
            "From the message's broker timestamp to its score being stored", buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.dlq = Counter(
            "badbuzz_dlq_messages", "Messages sent to the dead-letter topic", ["kind"], registry=registry
        )
        self.tweets_deleted = Counter(
            "badbuzz_tweets_deleted", "Stored tweets removed, with their copies, because their authors deleted them",
            registry=registry
        )
        self.topics_dropped = Counter(
            "badbuzz_topics_dropped", "Topics a producer named that the topics file does not define (dropped, "
            "not created)", registry=registry
        )
        self.consumer_lag = Gauge(
            "badbuzz_consumer_lag", "Messages behind the partition's high watermark", ["topic", "partition"],
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            "badbuzz_assigned_partitions", "Partitions of the input topic this replica owns", ["topic"],
            registry=registry,
        )
        self.store_retries = Counter(
            "badbuzz_store_retries", "Store writes that failed transiently (connection lost) and were retried",
            registry=registry,
        )
        self.delivery_retries = Counter(
            "badbuzz_delivery_retries", "Batches whose store write or output acknowledgement failed and was retried",
            ["stage"], registry=registry,
        )
        for stage in ("store", "publish", "other"):  # exported at 0 from the start: a rate, not "no data"
            self.delivery_retries.labels(stage=stage)
        self.ready = Gauge(
            "badbuzz_scorer_ready", "1 while the last batch was delivered; 0 while an outage holds a batch back",
            registry=registry,
        )
        self.last_delivery = Gauge(
            "badbuzz_last_delivery_seconds", "When this replica last delivered a batch (unix seconds; start time "
            "before the first)", registry=registry,
        )
        self.last_delivery.set_to_current_time()
        self.lag_checked = Gauge(
            "badbuzz_consumer_lag_checked_seconds", "When the consumer lag was last measured (unix seconds)",
            registry=registry,
        )
        self.stage_cpu = Counter(
            "badbuzz_scorer_stage_cpu_seconds", "CPU seconds the scorer spent per pipeline stage (validate, score: "
            "tokenise and inference, store, publish; consume and commit on the kafka-python engine), from the working "
            "thread's own clock; on the faust engine the rest of the process (Kafka fetches, offset commits, "
            "faust's loop) is the process CPU less these", ["stage"],
            registry=registry,
        )
        for stage in (*STAGES, *LOOP_STAGES):
            self.stage_cpu.labels(stage=stage)
        self.model_info = Gauge(
            "badbuzz_model_info", "The model being served (value 1)", ["version", "providers"], registry=registry
        )

    @contextmanager
    def clock(self, stage: str) -> Iterator[None]:
        """Adds the calling thread's CPU time inside ``with metrics.clock(stage):`` to ``stage_cpu``.

        Thread CPU rather than wall time: the stages run in worker threads that share two cores with Kafka,
        PostgreSQL and ONNX Runtime's pool, and wall time would charge a stage for the time it waited its turn."""
        started = time.thread_time()
        try:
            yield
        finally:
            self.stage_cpu.labels(stage=stage).inc(time.thread_time() - started)


def serve_metrics(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1", *,
                  targets_dir: Path | None = None, service: str = "", labels: dict[str, str] | None = None
                  ) -> ScrapeTarget | None:
    """Expose ``/metrics`` on ``addr:port`` (port 0 disables it) and, with ``targets_dir`` (Prometheus's
    file_sd folder, ``BADBUZZ_PROMETHEUS_TARGETS``), register this process as a scrape target there until
    it exits."""
    if not port:
        return None
    start_http_server(port, addr=addr, registry=registry)
    if targets_dir is None:
        return None
    target = ScrapeTarget(targets_dir, service, addr, port, labels or {})
    target.register()
    return target


class ScrapeTarget:
    """This process as a Prometheus file_sd target: one JSON file, written atomically when the metrics server
    is up and removed at exit, so a service started after ``deploy/stack.sh start`` is scraped without any
    manual step and one that stops disappears. Prometheus re-reads the folder every few seconds. A process
    killed with SIGKILL leaves its file behind (shown as down); the next process on the same port replaces it."""

    def __init__(self, directory: Path, service: str, addr: str, port: int, labels: dict[str, str]) -> None:
        host = addr if addr not in ("", "0.0.0.0", "::") else socket.gethostname()
        self.address = f"{host}:{port}"
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{service or 'badbuzz'}-{host}-{port}")
        self.path = Path(directory) / f"{safe}.json"
        self.doc = [{"targets": [self.address], "labels": {"service": service, **labels}}]

    def register(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")  # not *.json: Prometheus never reads half a file
        tmp.write_text(json.dumps(self.doc))
        tmp.replace(self.path)
        atexit.register(self.remove)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
