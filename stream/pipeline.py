"""The scoring stage: one micro-batch of raw messages in, stored scores and dead letters out.

Order inside a batch is what makes "nothing lost, nothing doubled" hold: dead letters and scores are made
durable (store write, then sink flushes) *before* the caller acknowledges the batch's offsets. The store
write is idempotent, so a batch replayed after a crash changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from badbuzz.stream.contracts import DeadLetter, IncomingMessage, RawTweet, ScoredTweet
from badbuzz.stream.errors import InvalidMessage
from badbuzz.stream.metrics import ScorerMetrics
from badbuzz.stream.sinks import Sink
from badbuzz.stream.topics import TopicMatcher
from badbuzz.stream.validation import ValidationLimits, decode_tweet

log = logging.getLogger(__name__)


class PredictionLike(Protocol):
    @property
    def labels(self) -> list[str]: ...

    @property
    def probabilities(self) -> npt.NDArray[np.float32]: ...

    def decided_labels(self) -> list[str]: ...


class SentimentModel(Protocol):
    @property
    def version(self) -> str: ...

    def predict(self, texts: Sequence[str]) -> PredictionLike: ...


class Store(Protocol):
    def write(self, records: Sequence[ScoredTweet]) -> int: ...


@dataclass(frozen=True)
class BatchResult:
    scored: int
    inserted: int
    dead: int


class ScoringPipeline:
    def __init__(
        self,
        model: SentimentModel,
        store: Store,
        scored_sink: Sink[ScoredTweet],
        dlq_sink: Sink[DeadLetter],
        metrics: ScorerMetrics,
        *,
        limits: ValidationLimits | None = None,
        topics: TopicMatcher | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.model = model
        self.store = store
        self.scored_sink = scored_sink
        self.dlq_sink = dlq_sink
        self.metrics = metrics
        self.limits = limits or ValidationLimits()
        self.topics = topics or TopicMatcher([])
        self._now = wall_clock

    def process(self, batch: Sequence[IncomingMessage]) -> BatchResult:
        """Validate, score, store, publish. Returns only when all of it is durable."""
        if not batch:
            return BatchResult(0, 0, 0)
        self.metrics.batch_size.observe(len(batch))
        tweets: list[tuple[RawTweet, IncomingMessage]] = []
        dead: list[DeadLetter] = []
        for msg in batch:
            try:
                tweet = decode_tweet(msg.value, self.limits)
                tweets.append((replace(tweet, topics=self.topics.assign(tweet.text, tweet.topics)), msg))
            except InvalidMessage as exc:
                dead.append(DeadLetter(msg, exc.kind, exc.reason))
        for d in dead:
            self.metrics.dlq.labels(kind=d.kind).inc()
            log.warning("dead letter %s[%d]@%d: %s", d.message.origin.topic, d.message.origin.partition,
                        d.message.origin.offset, d.reason)
        self.dlq_sink.add_many(dead)
        scored = self._score(tweets)
        inserted = 0
        if scored:
            started = time.perf_counter()
            inserted = self.store.write(scored)
            self.metrics.store_seconds.observe(time.perf_counter() - started)
            self.scored_sink.add_many(scored)
        self.dlq_sink.flush()
        self.scored_sink.flush()
        self._observe(scored, inserted)
        return BatchResult(len(scored), inserted, len(dead))

    def _score(self, tweets: list[tuple[RawTweet, IncomingMessage]]) -> list[ScoredTweet]:
        if not tweets:
            return []
        started = time.perf_counter()
        pred = self.model.predict([t.text for t, _ in tweets])
        self.metrics.inference_seconds.observe(time.perf_counter() - started)
        scored_at = datetime.fromtimestamp(self._now(), tz=UTC)
        version = self.model.version
        out = []
        decided = pred.decided_labels()
        for (tweet, msg), probs, label in zip(tweets, pred.probabilities, decided, strict=True):
            as_dict = {name: float(p) for name, p in zip(pred.labels, probs, strict=True)}
            out.append(ScoredTweet(tweet, label, as_dict, version, scored_at, msg.origin))
        return out

    def _observe(self, scored: list[ScoredTweet], inserted: int) -> None:
        now = self._now()
        for s in scored:
            self.metrics.tweets_scored.labels(label=s.label).inc()
            if s.origin and s.origin.timestamp_ms:
                self.metrics.end_to_end_latency.observe(max(0.0, now - s.origin.timestamp_ms / 1000))
        self.metrics.rows_inserted.inc(inserted)
