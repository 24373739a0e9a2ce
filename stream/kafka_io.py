"""Kafka plumbing with kafka-python: topic administration, a producer, and the Kafka sinks.

The sinks' ``flush()`` waits for broker acknowledgement (acks=all), which is what lets the scorer commit
offsets only after its outputs are durable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from badbuzz.stream.contracts import DeadLetter, ScoredTweet
from badbuzz.stream.errors import BadBuzzError
from badbuzz.stream.replay import ReplayTweet
from badbuzz.stream.sinks import Sink

_UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError)

log = logging.getLogger(__name__)


class KafkaUnavailable(BadBuzzError):
    """No broker answered at the configured bootstrap address."""


def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int, max_message_bytes: int) -> None:
    """Create the topics that are missing (idempotent)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="badbuzz-admin")
    except _UNREACHABLE:
        raise KafkaUnavailable(f"no Kafka broker at {bootstrap} (start it: deploy/stack.sh start)") from None
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(n, num_partitions=partitions, replication_factor=1,
                     topic_configs={"max.message.bytes": str(max_message_bytes)})
            for n in names if n not in existing
        ]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def make_producer(bootstrap: str, max_request_bytes: int) -> KafkaProducer:
    try:
        return KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=10,
            batch_size=256 * 1024,
            max_request_size=max_request_bytes,
            retries=5,
            client_id="badbuzz",
        )
    except _UNREACHABLE:
        raise KafkaUnavailable(f"no Kafka broker at {bootstrap} (start it: deploy/stack.sh start)") from None


def replay_record(tw: ReplayTweet) -> bytes:
    """The ``tweets.raw`` value for a replayed tweet (the label is ground truth and is not sent)."""
    return json.dumps(
        {"id": tw.id, "text": tw.text, "created_at": tw.created_at.isoformat(), "user": tw.user},
        ensure_ascii=False,
    ).encode("utf-8")


class KafkaScoredSink(Sink[ScoredTweet]):
    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    def add(self, item: ScoredTweet) -> None:
        self.producer.send(self.topic, key=item.tweet.id.encode(), value=item.encode())

    def flush(self) -> None:
        self.producer.flush()


class KafkaDeadLetterSink(Sink[DeadLetter]):
    """Original bytes as the value, error and origin in headers (the Kafka Connect DLQ convention)."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    def add(self, item: DeadLetter) -> None:
        self.producer.send(self.topic, key=item.message.key, value=item.message.value or b"",
                           headers=item.headers())

    def flush(self) -> None:
        self.producer.flush()
