"""Where a connector's records go, and what it counts on the way.

Every record is validated with the scorer's rules (``stream.validation.validate``) before it is
produced, so a connector never fills ``tweets.raw`` with what the scorer would only dead-letter; a record
that fails is counted and reported with its reason. ``--dry-run`` prints the records instead (JSON lines on
stdout), which is also how to pipe one connector into another tool.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from badbuzz.stream.contracts import RawTweet
from badbuzz.stream.errors import InvalidMessage
from badbuzz.stream.scoring.topics import TopicMatcher
from badbuzz.stream.scoring.validation import ValidationLimits, validate

log = logging.getLogger(__name__)


class ConnectorMetrics:
    def __init__(self, registry: CollectorRegistry, connector: str) -> None:
        c = {"connector": connector}
        self.received = Counter("badbuzz_ingest_received", "Posts or lines received from the source",
                                ["connector"], registry=registry).labels(**c)
        self.produced = Counter("badbuzz_ingest_produced", "Records written to tweets.raw (or printed)",
                                ["connector"], registry=registry).labels(**c)
        self.filtered = Counter("badbuzz_ingest_filtered", "Posts received but not about the brand",
                                ["connector"], registry=registry).labels(**c)
        self.rejected = Counter("badbuzz_ingest_rejected", "Records refused by the tweets.raw validation",
                                ["connector"], registry=registry).labels(**c)
        self.reconnects = Counter("badbuzz_ingest_reconnects", "Connections to the source reopened",
                                  ["connector"], registry=registry).labels(**c)
        self.deletions = Counter("badbuzz_ingest_deletions", "Deletions by their authors forwarded to tweets.raw",
                                 ["connector"], registry=registry).labels(**c)
        self.topics_dropped = Counter("badbuzz_ingest_topics_dropped", "Topics a record named that the topics "
                                      "file does not define (dropped, not created)", ["connector"],
                                      registry=registry).labels(**c)
        self.last_event = Gauge("badbuzz_ingest_last_event_seconds", "When the source last sent anything "
                                "(unix seconds)", ["connector"], registry=registry).labels(**c)


class RawSink:
    """Validates and produces ``tweets.raw`` records: to Kafka (``producer``), or printed (dry run). Each
    record leaves with its topics from the brand's topics file (``topics``): those its source attached that the
    file defines (an X rule's topic), and every one whose rules match its text."""

    def __init__(self, metrics: ConnectorMetrics, limits: ValidationLimits, *, producer: Any = None,
                 topic: str = "tweets.raw", out: IO[str] | None = None, topics: TopicMatcher | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.metrics = metrics
        self.topics = topics or TopicMatcher([])
        self.limits = limits
        self.producer = producer
        self.topic = topic
        self.out = out if out is not None or producer is not None else sys.stdout
        self._now = now

    def put(self, tweet: RawTweet) -> str | None:
        """Produce one mapped record; returns the reason when the scorer's rules refuse it (not produced)."""
        return self.put_value(tweet.encode())

    def put_value(self, value: bytes) -> str | None:
        """Produce one ``tweets.raw`` value (e.g. a JSON line), as the scorer reads it, if its rules accept it."""
        try:
            checked = validate(value, self._now(), self.limits)
        except InvalidMessage as exc:
            self.metrics.rejected.inc()
            return f"{exc.kind}: {exc}"
        if dropped := self.topics.unknown(checked.topics):
            self.metrics.topics_dropped.inc(len(dropped))
            log.warning("record %s names topic(s) the topics file does not define, dropped: %s", checked.id,
                        ", ".join(dropped[:5]))
        checked = replace(checked, topics=self.topics.assign(checked.text, checked.topics))
        if self.producer is not None:
            self.producer.send(self.topic, key=checked.id.encode(), value=checked.encode())
        else:
            assert self.out is not None
            self.out.write(json.dumps(checked.to_json(), ensure_ascii=False) + "\n")
            self.out.flush()
        self.metrics.produced.inc()
        return None

    def put_deletion(self, tweet_id: str) -> None:
        """Forward an author's deletion (``{"id", "deleted": true}``, keyed like the post, so it lands on the
        post's partition, after it): the scorer removes the stored post and its copies."""
        value = json.dumps({"id": tweet_id, "deleted": True}).encode()
        if self.producer is not None:
            self.producer.send(self.topic, key=tweet_id.encode(), value=value)
        else:
            assert self.out is not None
            self.out.write(value.decode() + "\n")
            self.out.flush()
        self.metrics.deletions.inc()

    def flush(self) -> None:
        """Wait until everything produced so far is acknowledged (before a cursor is saved)."""
        if self.producer is not None:
            self.producer.flush(timeout=30)

    def seen(self) -> None:
        self.metrics.received.inc()
        self.metrics.last_event.set(time.time())
