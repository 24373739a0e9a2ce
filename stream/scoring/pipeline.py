"""The scoring stage: one micro-batch of raw messages in, stored scores and dead letters out.

Order inside a batch is what makes "nothing lost, nothing doubled" hold: dead letters and scores are made
durable (store write, then sink flushes) *before* the caller acknowledges the batch's offsets. The store
write is idempotent, so a batch replayed after a crash changes nothing. Conservation: every message of a
batch ends as one stored row or one dead letter, whatever it holds; a row the store refuses becomes a dead
letter (``store_rejected``) without holding back the rows beside it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from badbuzz.models.serving.language import METRIC_LANGUAGES, UNDETERMINED, primary_subtag
from badbuzz.models.serving.routing import UNSCORED, as_router
from badbuzz.models.serving.routing import Member as SentimentModel
from badbuzz.stream.contracts import DeadLetter, IncomingMessage, RawTweet, ScoredTweet, WriteResult
from badbuzz.stream.errors import InvalidMessage
from badbuzz.stream.scoring.metrics import ScorerMetrics
from badbuzz.stream.scoring.sinks import Sink
from badbuzz.stream.scoring.topics import TopicMatcher
from badbuzz.stream.scoring.validation import ValidationLimits, deletion_of, validate

log = logging.getLogger(__name__)


class Store(Protocol):
    def write(self, records: Sequence[ScoredTweet]) -> WriteResult: ...

    def hold_partitions(self, partitions: Collection[int]) -> None:
        """Mark source partitions that still have unread tweets as active (see ``PreparedBatch``)."""

    def forget(self, tweet_ids: Sequence[str]) -> int:
        """Delete these tweets and every copy of their text (deleted by their authors); returns how many."""
        ...


@dataclass(frozen=True)
class BatchResult:
    scored: int
    inserted: int
    dead: int


@dataclass
class PreparedBatch:
    """A batch between scoring and delivery. It remembers which outputs are already durable, so a retry
    after an outage redoes only what is missing (dead letters are not sent again on every store retry)."""

    size: int
    scored: list[tuple[ScoredTweet, IncomingMessage]]
    dead: list[DeadLetter]
    deletions: list[str] = field(default_factory=list)  # ids of tweets their authors deleted
    stored: bool = False
    dead_published: bool = False
    scored_published: bool = False
    inserted: int = 0
    # source partitions of this consumer with tweets still unread when the batch was taken. Stored (as active)
    # before the batch: the alerter's watermark must not run ahead on the first partition scored after a pause
    # while the others' tweets for the same minutes are still in Kafka (stream/detection/aggregation.py)
    pending_partitions: frozenset[int] = frozenset()


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
        self.router = as_router(model)
        served = self.router.supported_languages()
        # the languages a metric label may take: the served ones, und and other (bounded cardinality)
        self._metric_langs = (served if served is not None else set(METRIC_LANGUAGES)) | {UNDETERMINED}
        self.store = store
        self.scored_sink = scored_sink
        self.dlq_sink = dlq_sink
        self.metrics = metrics
        self.limits = limits or ValidationLimits()
        self.topics = topics or TopicMatcher([])
        self._now = wall_clock

    def process(self, batch: Sequence[IncomingMessage]) -> BatchResult:
        """Validate, score, store, publish. Returns only when all of it is durable."""
        return self.deliver(self.prepare(batch))

    def prepare(self, batch: Sequence[IncomingMessage]) -> PreparedBatch:
        """Decode, validate and score; nothing leaves the process yet. Never raises for a message's content."""
        self.metrics.batch_size.observe(len(batch))
        now = datetime.fromtimestamp(self._now(), tz=UTC)
        with self.metrics.clock("validate"):
            tweets, dead, deletions = self._validate(batch, now)
        with self.metrics.clock("score"):
            scored, failed = self._score(tweets)
        dead.extend(failed)
        return PreparedBatch(len(batch), scored, dead, deletions)

    def _validate(self, batch: Sequence[IncomingMessage], now: datetime
                  ) -> tuple[list[tuple[RawTweet, IncomingMessage]], list[DeadLetter], list[str]]:
        """Each message decoded and checked: a tweet (topics assigned), a dead letter, or an author's deletion."""
        tweets: list[tuple[RawTweet, IncomingMessage]] = []
        dead: list[DeadLetter] = []
        deletions: list[str] = []
        for msg in batch:
            if (deleted := deletion_of(msg.value)) is not None:
                deletions.append(deleted)
                continue
            try:
                tweet = validate(msg.value, now, self.limits)
                if dropped := self.topics.unknown(tweet.topics):
                    self.metrics.topics_dropped.inc(len(dropped))
                tweets.append((replace(tweet, topics=self.topics.assign(tweet.text, tweet.topics)), msg))
            except InvalidMessage as exc:
                dead.append(DeadLetter(msg, exc.kind, exc.reason))
            except Exception as exc:  # a bug must cost one message, not the stream
                log.exception("unexpected error validating %s", msg.origin)
                dead.append(DeadLetter(msg, "unreadable", f"{type(exc).__name__}: {exc}"[:300]))
        return tweets, dead, deletions

    def deliver(self, batch: PreparedBatch) -> BatchResult:
        """Store, then publish scores and dead letters; raises (StoreUnavailable, SinkError) while any of it is
        not durable, and may be called again with the same batch until it returns."""
        if not batch.stored:
            with self.metrics.clock("store"):
                self._store(batch)
        if not batch.dead_published:
            with self.metrics.clock("publish"):
                self.dlq_sink.add_many(batch.dead)
                self.dlq_sink.flush()
            batch.dead_published = True
            for d in batch.dead:
                self.metrics.dlq.labels(kind=d.kind).inc()
                o = d.message.origin
                log.warning("dead letter %s[%d]@%d (%s): %s", o.topic, o.partition, o.offset, d.kind, d.reason)
        scored = [s for s, _ in batch.scored]
        if not batch.scored_published:
            with self.metrics.clock("publish"):
                self.scored_sink.add_many(scored)
                self.scored_sink.flush()
            batch.scored_published = True
            self._observe(scored, batch.inserted)
        return BatchResult(len(scored), batch.inserted, len(batch.dead))

    def _store(self, batch: PreparedBatch) -> None:
        started = time.perf_counter()
        if batch.pending_partitions:
            self.store.hold_partitions(batch.pending_partitions)
        result = self.store.write([s for s, _ in batch.scored])
        if batch.deletions:  # after the write: a post created and deleted within one batch goes too
            self.metrics.tweets_deleted.inc(self.store.forget(batch.deletions))
        self.metrics.store_seconds.observe(time.perf_counter() - started)
        refused: dict[int, tuple[str, str]] = {id(s): ("store_rejected", why) for s, why in result.rejected}
        for s in result.conflicting:
            refused[id(s)] = ("duplicate_id", f"tweet id {s.tweet.id!r} is already stored with a different text")
        if refused:
            batch.dead.extend(DeadLetter(m, *refused[id(s)]) for s, m in batch.scored if id(s) in refused)
            batch.scored = [(s, m) for s, m in batch.scored if id(s) not in refused]
        batch.inserted = result.inserted
        batch.stored = True

    def _score(self, tweets: list[tuple[RawTweet, IncomingMessage]]
               ) -> tuple[list[tuple[ScoredTweet, IncomingMessage]], list[DeadLetter]]:
        """Score the batch at once; if the model fails on it, score one by one so only the culprit is lost."""
        if not tweets:
            return [], []
        try:
            return self._score_all(tweets), []
        except Exception:
            if len(tweets) == 1:
                log.exception("the model failed on %s", tweets[0][1].origin)
                return [], [DeadLetter(tweets[0][1], "score_failed", "the model could not score this text")]
        scored: list[tuple[ScoredTweet, IncomingMessage]] = []
        dead: list[DeadLetter] = []
        for one in tweets:
            ok, bad = self._score([one])
            scored.extend(ok)
            dead.extend(bad)
        return scored, dead

    def _score_all(self, tweets: list[tuple[RawTweet, IncomingMessage]]) -> list[tuple[ScoredTweet, IncomingMessage]]:
        started = time.perf_counter()
        pred = self.router.route([t.text for t, _ in tweets], [t.lang for t, _ in tweets])
        self.metrics.inference_seconds.observe(time.perf_counter() - started)
        scored_at = datetime.fromtimestamp(self._now(), tz=UTC)
        out = []
        for i, (tweet, msg) in enumerate(tweets):
            if self.router.needs_languages and tweet.lang is None:  # stored with the language it was routed by
                tweet = replace(tweet, lang=pred.languages[i] or UNDETERMINED)
            reason = pred.unscored[i]
            if reason is not None:
                out.append((ScoredTweet(tweet, UNSCORED, {}, UNSCORED, scored_at, msg.origin,
                                        unscored_reason=reason), msg))
                continue
            as_dict = {name: float(p) for name, p in zip(pred.labels, pred.probabilities[i], strict=True)}
            out.append((ScoredTweet(tweet, pred.decided[i], as_dict, pred.versions[i] or self.router.version,
                                    scored_at, msg.origin, pred.emotions[i], pred.emotion_models[i]), msg))
        return out

    def _metric_lang(self, tweet: RawTweet) -> str:
        lang = primary_subtag(tweet.lang) or UNDETERMINED
        return lang if lang in self._metric_langs else "other"

    def _observe(self, scored: list[ScoredTweet], inserted: int) -> None:
        now = self._now()
        # counted per (label, language) first: a labelled counter costs a lookup and a lock per increment
        scored_by: Counter[tuple[str, str]] = Counter()
        unscored_by: Counter[str] = Counter()
        latency = self.metrics.end_to_end_latency
        for s in scored:
            if s.scored:
                scored_by[s.label, self._metric_lang(s.tweet)] += 1
            else:
                unscored_by[self._metric_lang(s.tweet)] += 1
            if s.origin and s.origin.timestamp_ms:
                latency.observe(max(0.0, now - s.origin.timestamp_ms / 1000))
        for (label, lang), n in scored_by.items():
            self.metrics.tweets_scored.labels(label=label, lang=lang).inc(n)
        for lang, n in unscored_by.items():
            self.metrics.tweets_unscored.labels(lang=lang).inc(n)
        self.metrics.rows_inserted.inc(inserted)
