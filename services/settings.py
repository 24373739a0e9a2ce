"""One typed settings object per process, read from ``BADBUZZ_*`` environment variables in ``main()``.

No servers configured (no ``BADBUZZ_KAFKA_BOOTSTRAP``) means embedded mode: in-process stream, SQLite.
Invalid values fail at start-up with the variable's name, not deep inside a stage.
"""

from __future__ import annotations

import logging
import os
import warnings
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from badbuzz.models.serving.released import released_model_dir
from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.scoring.validation import ValidationLimits

if TYPE_CHECKING:
    from badbuzz.services.storage.retention import RetentionPolicy
    from badbuzz.stream.kafka.clients import TopicConfig
    from badbuzz.stream.kafka.security import KafkaSecurity
    from badbuzz.stream.scoring.topics import TopicMatcher


# the encoder `badbuzz train` fine-tunes by default (models/training/base_models.py resolves it; a test keeps
# the two equal: the running services do not import training code for one string)
DEFAULT_BASE_MODEL = "distilbert-base-uncased"

# environment variables renamed; the old name still works, with a deprecation warning
RENAMED = {"BADBUZZ_TOPIC_RAW": "BADBUZZ_KAFKA_TOPIC_RAW", "BADBUZZ_TOPIC_SCORED": "BADBUZZ_KAFKA_TOPIC_SCORED",
           "BADBUZZ_TOPIC_DLQ": "BADBUZZ_KAFKA_TOPIC_DLQ"}


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must not print the values it was given (URLs, passwords, keys)
    model_config = SettingsConfigDict(env_prefix="BADBUZZ_", extra="ignore", hide_input_in_errors=True)

    home: Path = Field(Path(".badbuzz"), description="Folder for models, the embedded database, plots")
    data: Path | None = Field(None, description="Sentiment140 CSV (or a folder holding one)")
    model_dir: Path | None = Field(None, description="sentiment model directory; default: the released 3-way model")
    emotion_model_dir: Path | None = Field(None, description="emotion model directory; default: the released one")
    emotions: Literal["negative", "all", "off"] = Field(
        "all", description="which tweets get emotion probabilities: all (free with the released emotion branch), "
                           "those scored negative (cheaper with a standalone emotion model), or none")
    multilingual_model_dir: Path | None = Field(
        None, description="sentiment model for the languages the main model is not validated on; default: the "
                          "released multilingual one (if present)")
    languages: Literal["route", "off"] = Field(
        "route", description="route: each tweet goes to the model validated on its language (the feed's tag, or "
                             "detected), tweets in other languages are stored unscored; off: one model for all")
    language_confidence: float = Field(
        0.5, ge=0, le=1, description="detector confidence below which a tweet's language counts as undetermined")
    base_model: str = DEFAULT_BASE_MODEL

    kafka_bootstrap: str | None = Field(None, description="host:port,...; unset = embedded mode")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="SASL_SSL for a managed or remote broker: SCRAM over TLS")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ca_file: Path | None = Field(None, description="CA bundle that signed the brokers' certificates")
    kafka_cert_file: Path | None = Field(None, description="client certificate (PEM) for mutual TLS")
    kafka_key_file: Path | None = Field(None, description="its private key (PEM)")
    # secrets: a URL may carry a password; SecretStr keeps it out of reprs, logs and validation errors
    database_url: SecretStr | None = Field(None, description="SQLAlchemy URL; unset = SQLite under HOME")
    database_wait_s: float = Field(300.0, ge=0, description=(
        "how long a service starting while the database does not answer waits for it (then exits)"))
    redis_url: SecretStr | None = Field(None, description="redis://user:password@host:port/db")
    redis_prefix: str = Field("", description="prefix for Redis keys and channels (several deployments, one Redis)")
    topics_file: Path | None = Field(None, description="JSON file of watched topics (see stream/scoring/topics.py)")

    # Kafka topics (a "topic" alone is a watched brand topic, topics_file). BADBUZZ_TOPIC_RAW/_SCORED/_DLQ, their
    # names before the two meanings were told apart, still work and log a deprecation warning (RENAMED below)
    kafka_topic_raw: str = Field("tweets.raw", validation_alias=AliasChoices(
        "BADBUZZ_KAFKA_TOPIC_RAW", "BADBUZZ_TOPIC_RAW", "kafka_topic_raw"))
    kafka_topic_scored: str = Field("tweets.scored", validation_alias=AliasChoices(
        "BADBUZZ_KAFKA_TOPIC_SCORED", "BADBUZZ_TOPIC_SCORED", "kafka_topic_scored"))
    kafka_topic_dlq: str = Field("tweets.dlq", validation_alias=AliasChoices(
        "BADBUZZ_KAFKA_TOPIC_DLQ", "BADBUZZ_TOPIC_DLQ", "kafka_topic_dlq"))
    partitions: int = Field(4, ge=1)
    kafka_replication_factor: int = Field(1, ge=1, description=(
        "replicas of each topic badbuzz creates: 1 for the single-node stack, 3 on a managed cluster "
        "(Confluent Cloud refuses 1)"))
    kafka_min_insync_replicas: int | None = Field(None, ge=1, description=(
        "min.insync.replicas of the topics badbuzz creates (unset: the broker's default; on MSK that is 2, "
        "which a 1-replica topic can never meet)"))
    consumer_group: str = "badbuzz-scorer"
    scorer_engine: Literal["faust", "kafka-python"] = Field("faust", description=(
        "what consumes tweets.raw for the scorer: faust's agent, or kafka-python's consumer group taking whole "
        "fetches as batches (about 100 us less CPU a tweet: the engine for a scorer whose model is fast, e.g. "
        "on a GPU; stream/kafka/batch_consumer.py)"))
    replica: str = Field("0", pattern=r"^[A-Za-z0-9_.-]+$")

    # A batch fills only under a backlog (a quieter stream is cut after batch_max_wait_s), where larger batches
    # amortise the store's transaction, the publish round trip and faust's per-batch work, and give length
    # bucketing more tweets to sort: 256 instead of 64 scored +7 % tweets/s end to end on 2 cores in make bench
    # (+7 to +21 % in interleaved trials; docs/benchmarks.md), for about 0.4 s per full batch.
    batch_max_size: int = Field(256, ge=1, le=10_000)
    batch_max_wait_s: float = Field(0.25, gt=0, le=60)
    max_text_chars: int = Field(2_000, ge=1)
    max_message_bytes: int = Field(64 * 1024, ge=256)
    kafka_max_request_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    lag_interval_s: float = Field(5.0, gt=0, description="how often consumer lag is measured from the broker")
    max_future_skew_s: float = Field(600.0, ge=0, description="tweets dated further ahead are dead-lettered")
    max_event_age_days: float = Field(30.0, gt=0, description="tweets older than this are dead-lettered")
    kafka_session_timeout_s: float = Field(10.0, ge=3, description="how fast a dead replica's partitions move")

    alert_allowed_lateness_s: float = Field(30.0, ge=0, description="how late a tweet may arrive and still count")
    alert_poll_s: float = Field(2.0, gt=0)
    alert_min_volume: int = Field(30, ge=1)
    alert_alpha: float = Field(3e-4, gt=0, lt=1, description=(
        "false-alarm budget per topic and minute, shared by every window and signal tested"))
    alert_keep_firing_minutes: int = Field(60, ge=0, le=1440, description=(
        "an alert stays open at least this long (as Prometheus's keep_firing_for): a story that grows over "
        "hours first clears the bar, falls back under it a while, and would otherwise page twice"))
    alert_weekly_budget: float = Field(0.15, ge=0, lt=100, description=(
        "false alarms a week per topic spread over windows in proportion to their length (see detector.py)"))
    alert_scales: str = Field("2,5,10,30,60,180,720", pattern=r"^\s*\d+\s*(,\s*\d+\s*)*$", description=(
        "comma-separated window lengths in minutes, each tested only when it holds enough tweets"))
    alert_pending_minutes: int = Field(2, ge=1)
    alert_cooldown_minutes: int = Field(60, ge=0)  # as DetectorConfig, which the alert tables measure
    alert_page_max_age_minutes: float = Field(30.0, gt=0, description=(
        "a transition found while catching up (after an alerter outage, or a backfill) that is older than this "
        "is recorded, shown in the API and counted, but not paged; the alert still firing at the end is"))
    alert_topics: str = Field("", description="comma-separated topics that may alert (empty: every topic, 'all' too)")
    alerts_file: Path | None = Field(None, description="embedded mode: append alerts as JSON lines here")
    api_keys: SecretStr | None = Field(
        None, description="name:read|write:<sha256 hex> entries, comma-separated (`badbuzz api-key` makes one)")
    api_host: str = Field("127.0.0.1", description="where `badbuzz services api` listens")
    api_port: int = Field(8080, ge=1, le=65535)
    api_max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, description=(
        "largest request body the API reads (checked before authentication): 256 tweets to score or 1,000 "
        "typical records to ingest fit in the default; larger is refused with 413 before it is read"))
    api_batch_max_texts: int = Field(64, ge=1, le=4096, description=(
        "POST /v1/score: concurrent requests are scored together, up to this many texts per model call"))
    api_batch_max_wait_ms: float = Field(0.0, ge=0, le=1000, description=(
        "POST /v1/score: how long an idle server waits for more requests before it starts a call; 0: it starts at "
        "once, and batches form from what queues while a call runs (docs/benchmarks-api.md: 5 ms of waiting "
        "added 5 ms to a lone client's latency and no throughput at 16 clients)"))
    api_batch_workers: int = Field(2, ge=1, le=64, description=(
        "POST /v1/score: model calls that may run at once (the model's lanes, BADBUZZ_ONNX_LANES, bound how many "
        "are in ONNX Runtime together). "
        "Two: while one call is in ONNX Runtime, the other tokenises, pads and answers, which one call at a time "
        "left to an idle core (docs/benchmarks.md, 2026-12-07: 16 one-text clients 0.52 and 0.63 x batched "
        "inference against 0.46-0.51 with one; 64 clients 0.71-0.73 against 0.56-0.57)"))
    api_queue_max_texts: int = Field(2048, ge=1, description=(
        "POST /v1/score: texts that may wait for the model; past it a request gets 503 with Retry-After"))
    readiness_cache_s: float = Field(5.0, ge=0, description=(
        "how long /readyz reuses its last answer: probes from every kubelet and load balancer hit it"))
    x_bearer_token: SecretStr | None = Field(None, description="`badbuzz ingest x`: the X app's bearer token")
    webhook_urls: SecretStr = Field(SecretStr(""), description=(
        "comma-separated endpoints that receive alerts (Slack-compatible); secret: such a URL is a credential"))
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for the signature header")
    webhook_allow_http: Literal["never", "loopback", "always"] = Field(
        "never", description="webhooks are https only unless this allows http (loopback: 127.0.0.1/::1/localhost)")
    webhook_allowed_hosts: str = Field("", description=(
        "optional allow-list: comma-separated hosts (hooks.slack.com) or domains (.example.org) webhooks may reach"))
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="per request: connect and answer")
    delivery_give_up_hours: float = Field(24.0, gt=0, description=(
        "an alert delivery still failing this long after its alert is marked failed (and counted)"))
    outbox_retention_days: float = Field(7.0, gt=0, description="delivered alert deliveries are purged after this")
    retention_days: float = Field(30.0, gt=0, description="raw scored tweets (text, author) are deleted after this")
    rollup_retention_days: float = Field(400.0, gt=0, description="per-minute topic counts are kept this long")
    alert_retention_days: float = Field(730.0, gt=0, description="resolved alerts and their acks are kept this long")

    device: Literal["auto", "cpu", "cuda"] = "auto"
    onnx_variant: str | None = None
    onnx_threads: int = Field(0, ge=0, description=(
        "ONNX Runtime intra-op threads per call (0: one when calls run in lanes, else ORT's default of one per "
        "core)"))
    onnx_lanes: int = Field(0, ge=0, le=256, description=(
        "ONNX Runtime calls a CPU model runs at once, a micro-batch's length buckets side by side (0: one per usable "
        "core; 1: one call at a time over onnx_threads): 1.2x the scorer's and 1.3-1.7x the API's tweets/s on 2 cores "
        "(bench/lanes.py); a GPU runs one call at a time whatever this says"))
    onnx_spinning: bool = Field(True, description=(
        "ONNX Runtime's threads spin between calls: lowest latency for back-to-back micro-batches (the scorer); "
        "the API turns it off, since between requests the spinning threads take the cores the server needs"))
    onnx_lane_nice: int = Field(0, ge=0, le=19, description=(
        "niceness of the threads that run ONNX Runtime calls (lanes): above 0 the threads that answer requests "
        "get a core the moment they wake; the API sets 10 unless this is set (its /healthz worst case halved "
        "under load, docs/benchmarks-api.md)"))
    onnx_sub_batch: int = Field(16, ge=1, le=10_000, description=(
        "tweets per ONNX call: a micro-batch is sorted by length and cut into sub-batches this size, so short "
        "tweets are not padded to the longest one (1.4x on 2 cores at 16 vs one call of 64, docs/benchmarks.md)"))
    null_model: bool = Field(False, description=(
        "benchmarks only (badbuzz bench --null-model): tokenise as served but skip inference, every tweet gets "
        "constant scores and a model version ending in +null; measures the pipeline's own ceiling"))
    cuda_device_id: int = Field(0, ge=0, description="which GPU the CUDA provider uses")
    cuda_mem_limit_mb: int = Field(0, ge=0, description="cap on the CUDA provider's memory arena (0: none)")

    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_addr: str = "127.0.0.1"
    prometheus_targets: Path | None = Field(
        None, description="Prometheus file_sd folder: each service registers its /metrics there while it runs "
                          "(deploy/stack.sh exports it)")
    prometheus_labels: str = Field(
        "", pattern=r"^([A-Za-z_][A-Za-z0-9_]*=[^,=]*)?(,[A-Za-z_][A-Za-z0-9_]*=[^,=]*)*$",
        description="extra labels on this process's scrape target, e.g. env=prod,brand=airparadis")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def kafka_topics(self) -> list[str]:
        """The scorer's three Kafka topics: tweets in, scores out, dead letters."""
        return [self.kafka_topic_raw, self.kafka_topic_scored, self.kafka_topic_dlq]

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        for old, new in RENAMED.items():
            if old in os.environ:
                message = f"{old} is deprecated and will be removed: set {new} (same meaning, the Kafka topic's name)"
                warnings.warn(message, DeprecationWarning, stacklevel=2)
                logging.getLogger("badbuzz.settings").warning(message)
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        """A blank value (what ``${VAR:-}`` leaves in a compose or env file) of any optional setting is unset,
        not ``Path('')`` (the working directory) or an empty URL."""
        blank = isinstance(value, str) and not value.strip()
        optional = info.field_name is not None and type(None) in get_args(cls.model_fields[info.field_name].annotation)
        return None if blank and optional else value

    @field_validator("webhook_secret")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.lower() in {"changeme", "change-me", "secret", "password", "xxx", "todo"} or len(raw) < 16:
            raise ValueError("BADBUZZ_WEBHOOK_SECRET looks like a placeholder: use at least 16 random characters")
        return value

    @model_validator(mode="after")
    def _retention_outlives_deduplication(self) -> Settings:
        """A stored tweet is what makes its replay a duplicate (the primary key). Deleting tweets younger than
        the oldest one the scorer still accepts would let a replay insert it again and count it twice."""
        # both ages are tweet time (created_at): retention deletes below now - retention, the scorer accepts
        # from now - max age, so the two windows nest exactly when retention >= max age
        if self.retention_days < self.max_event_age_days:
            raise ValueError(
                f"BADBUZZ_RETENTION_DAYS ({self.retention_days:g}) is shorter than the deduplication window "
                f"BADBUZZ_MAX_EVENT_AGE_DAYS ({self.max_event_age_days:g}): a replayed tweet would be stored and "
                "counted twice; lower BADBUZZ_MAX_EVENT_AGE_DAYS with it")
        return self

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Settings:
        self.kafka_security()  # raises ValueError, at start, on missing credentials or files
        return self

    @model_validator(mode="after")
    def _insync_fits_replicas(self) -> Settings:
        insync = self.kafka_min_insync_replicas
        if insync is not None and insync > self.kafka_replication_factor:
            raise ValueError(f"BADBUZZ_KAFKA_MIN_INSYNC_REPLICAS ({self.kafka_min_insync_replicas}) exceeds "
                             f"BADBUZZ_KAFKA_REPLICATION_FACTOR ({self.kafka_replication_factor}): every acks=all "
                             "write would fail")
        return self

    @model_validator(mode="after")
    def _alert_topics_can_fire(self) -> Settings:
        """A deployment whose watched topics no tweet can ever carry would run for months and never alert.
        Every topic in BADBUZZ_ALERT_TOPICS must be 'all' or defined in the topics file (which must load)."""
        watched = self.alert_topic_set
        known = set(self.topic_matcher().names)
        missing = sorted(watched - known)
        if missing:
            where = (f"the topics file {self.topics_file}" if self.topics_file
                     else "no topics file (BADBUZZ_TOPICS_FILE unset)")
            raise ValueError(f"BADBUZZ_ALERT_TOPICS names {', '.join(missing)}, but {where} defines "
                             f"{', '.join(sorted(known))}: no tweet could ever carry it, so it could never alert")
        return self

    @property
    def alert_topic_set(self) -> set[str]:
        """The topics that may alert (empty: every topic)."""
        return {t.strip() for t in self.alert_topics.split(",") if t.strip()}

    def topic_matcher(self) -> TopicMatcher:
        """The brand's topics (BADBUZZ_TOPICS_FILE; only ``all`` without one). Raises ValueError when the file
        cannot be read or is invalid, so a broken file stops a service at start, not at its first tweet."""
        from badbuzz.stream.scoring.topics import TopicMatcher

        return TopicMatcher.from_file(self.topics_file)

    def kafka_topic_config(self) -> TopicConfig:
        """How the topics badbuzz creates are replicated and how long they keep tweets: no longer than the
        store does (BADBUZZ_RETENTION_DAYS), since every record holds a tweet's text (stream/kafka/io)."""
        from badbuzz.stream.kafka.clients import TopicConfig

        return TopicConfig(self.kafka_replication_factor, self.kafka_min_insync_replicas,
                           retention_ms=int(self.retention_days * 86_400_000))

    def kafka_security(self) -> KafkaSecurity:
        from badbuzz.stream.kafka.security import KafkaSecurity

        return KafkaSecurity(self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_username,
                             self.kafka_password.get_secret_value() if self.kafka_password else None,
                             self.kafka_ca_file, self.kafka_cert_file, self.kafka_key_file)

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> Settings:
        from badbuzz.services.alerting.webhook_channel import check_webhook_url

        if self.webhook_url_list and self.webhook_secret is None:
            raise ValueError("BADBUZZ_WEBHOOK_URLS is set but BADBUZZ_WEBHOOK_SECRET is not: deliveries must be signed")
        for url in self.webhook_url_list:  # the error names the host only: the rest of the URL is a secret
            check_webhook_url(url, self.webhook_allow_http, self.webhook_allowed_host_list)
        return self

    @property
    def webhook_url_list(self) -> list[str]:
        return [u.strip() for u in self.webhook_urls.get_secret_value().split(",") if u.strip()]

    @property
    def webhook_allowed_host_list(self) -> tuple[str, ...]:
        return tuple(h.strip() for h in self.webhook_allowed_hosts.split(",") if h.strip())

    def retention_policy(self) -> RetentionPolicy:
        from badbuzz.services.storage.retention import RetentionPolicy

        return RetentionPolicy(tweets=timedelta(days=self.retention_days),
                               rollups=timedelta(days=self.rollup_retention_days),
                               alerts=timedelta(days=self.alert_retention_days))

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(min_volume=self.alert_min_volume, alpha=self.alert_alpha,
                              pending_minutes=self.alert_pending_minutes, cooldown_minutes=self.alert_cooldown_minutes,
                              scales=tuple(sorted({int(x) for x in self.alert_scales.split(",")})),
                              weekly_budget=self.alert_weekly_budget,
                              keep_firing_minutes=self.alert_keep_firing_minutes)

    @property
    def target_labels(self) -> dict[str, str]:
        """This process's scrape-target labels: its replica and ``BADBUZZ_PROMETHEUS_LABELS``."""
        extra = dict(pair.split("=", 1) for pair in self.prometheus_labels.split(",") if pair)
        return {"replica": self.replica, **extra}

    @property
    def embedded(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def resolved_model_dir(self) -> Path:
        """The model asked for, else the full released sentiment model. The released fast head
        (``models/released/sentiment3-fast``, 5 of the 6 layers) is opt-in: it stays within a point of the
        full model but falls one tweet short of the 0.90 Sentiment140 floor the default must hold
        (docs/model-card.md)."""
        return self.model_dir or released_model_dir("sentiment3")

    @property
    def resolved_multilingual_model_dir(self) -> Path:
        return self.multilingual_model_dir or released_model_dir("sentiment3-multilingual")

    @property
    def resolved_emotion_model_dir(self) -> Path:
        return self.emotion_model_dir or released_model_dir("emotion4")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.home / 'badbuzz.db').resolve()}"

    @property
    def limits(self) -> ValidationLimits:
        return ValidationLimits(max_text_chars=self.max_text_chars, max_message_bytes=self.max_message_bytes,
                                max_future_skew=timedelta(seconds=self.max_future_skew_s),
                                max_age=timedelta(days=self.max_event_age_days))
