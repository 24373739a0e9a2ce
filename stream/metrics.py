"""Prometheus metrics of the scorer. Every metric takes a registry, so tests use a fresh one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ScorerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.tweets_scored = Counter(
            "badbuzz_tweets_scored", "Tweets scored and stored", ["label"], registry=registry
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
        self.model_info = Gauge(
            "badbuzz_model_info", "The model being served (value 1)", ["version", "providers"], registry=registry
        )


def serve_metrics(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on ``addr:port`` (port 0 disables it)."""
    if port:
        start_http_server(port, addr=addr, registry=registry)
