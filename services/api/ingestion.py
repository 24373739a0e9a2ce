"""``POST /v1/ingest``'s destination: the records the HTTP source accepted (``stream/sources/http_ingest.py``)
go to ``tweets.raw``, or, in embedded mode (no Kafka configured), through the scoring pipeline into the store in
this process. Nothing is accepted unless all of it is: a broker that does not answer is a 503 for the batch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from badbuzz.services.settings import Settings


class Ingestion:
    """``POST /v1/ingest``'s work: validate like the scorer, then produce to ``tweets.raw`` or, in embedded mode
    (no Kafka), run the same scoring pipeline in this process and store."""

    def __init__(self, settings: Settings, db: Engine, get_model: Callable[[], Any], registry: CollectorRegistry
                 ) -> None:
        self.settings = settings
        self.db = db
        self.get_model = get_model
        self.registry = registry
        self._producer: Any = None
        self._pipeline: Any = None

    def submit(self, records: list[dict[str, Any]]) -> tuple[int, list[tuple[int, str]]]:
        from badbuzz.stream.sources.http_ingest import parse_records

        batch = parse_records(records, datetime.now(UTC), self.settings.limits)
        if batch.accepted:
            self._kafka(batch.accepted) if self.settings.kafka_bootstrap else self._store(batch.accepted)
        return len(batch.accepted), batch.refused

    def _kafka(self, values: list[tuple[str, bytes]]) -> None:
        from badbuzz.stream.kafka.clients import make_producer

        try:
            if self._producer is None:
                assert self.settings.kafka_bootstrap is not None
                self._producer = make_producer(self.settings.kafka_bootstrap, self.settings.kafka_max_request_bytes,
                                               self.settings.kafka_security())
            for key, value in values:
                self._producer.send(self.settings.kafka_topic_raw, key=key.encode(), value=value)
            self._producer.flush(timeout=15)
        except Exception as exc:  # no broker, a refused password, a timeout: the client retries the whole batch
            self._producer = None
            raise HTTPException(503, f"Kafka does not answer ({type(exc).__name__}): nothing accepted, retry") from None

    def _store(self, values: list[tuple[str, bytes]]) -> None:
        from badbuzz.services.storage.scores import ScoreStore
        from badbuzz.stream.contracts import DeadLetter, IncomingMessage, Origin, ScoredTweet
        from badbuzz.stream.scoring.metrics import ScorerMetrics
        from badbuzz.stream.scoring.pipeline import ScoringPipeline
        from badbuzz.stream.scoring.sinks import NullSink

        if self._pipeline is None:
            self._pipeline = ScoringPipeline(
                self.get_model(), ScoreStore(self.db), NullSink[ScoredTweet](), NullSink[DeadLetter](),
                ScorerMetrics(self.registry), limits=self.settings.limits,
                topics=self.settings.topic_matcher())
        self._pipeline.process([IncomingMessage(v, Origin("api", 0, i)) for i, (_, v) in enumerate(values)])
