"""Every SQLAlchemy table of Bad Buzz Watch, on one declarative base (PostgreSQL and SQLite alike).

Kept in one module so ``create_all`` sees the whole schema whichever service starts first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from badbuzz.stream.limits import (
    ALERT_ID_MAX_CHARS,
    LABEL_MAX_CHARS,
    LANG_MAX_CHARS,
    MODEL_VERSION_MAX_CHARS,
    TOPIC_MAX_CHARS,
    TWEET_ID_MAX_CHARS,
    USER_MAX_CHARS,
)


class Base(DeclarativeBase):
    pass


class ScoredTweetRow(Base):
    __tablename__ = "scored_tweets"

    tweet_id: Mapped[str] = mapped_column(String(TWEET_ID_MAX_CHARS), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user: Mapped[str | None] = mapped_column(String(USER_MAX_CHARS))
    lang: Mapped[str | None] = mapped_column(String(LANG_MAX_CHARS))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    label: Mapped[str] = mapped_column(String(LABEL_MAX_CHARS))
    p_negative: Mapped[float | None] = mapped_column(Float, nullable=True)  # NULL: unscored
    probabilities: Mapped[dict[str, float]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(MODEL_VERSION_MAX_CHARS))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)
    # anger/joy/optimism/sadness probabilities; NULL where emotion was not run (non-negative tweets by default)
    emotions: Mapped[dict[str, float] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # why the tweet has no score (label "unscored"): no model is validated on its language
    unscored_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TweetTopicRow(Base):
    """Which watched topics a tweet belongs to (``all`` included): the join key for per-topic queries."""

    __tablename__ = "tweet_topics"

    tweet_id: Mapped[str] = mapped_column(String(TWEET_ID_MAX_CHARS), primary_key=True)
    topic: Mapped[str] = mapped_column(String(TOPIC_MAX_CHARS), primary_key=True, index=True)


class TopicMinuteRow(Base):
    """Per-topic per-minute rollup of event time, incremented with the tweets in one transaction."""

    __tablename__ = "topic_minute_rollups"

    topic: Mapped[str] = mapped_column(String(TOPIC_MAX_CHARS), primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True, index=True)
    n: Mapped[int] = mapped_column(Integer)
    n_negative: Mapped[int] = mapped_column(Integer)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(MODEL_VERSION_MAX_CHARS), primary_key=True)
    labels: Mapped[list[str]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StreamProgressRow(Base):
    """Newest event time stored per source partition: the alerter's watermark is the slowest active one."""

    __tablename__ = "stream_progress"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    max_event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertRow(Base):
    """One alert with its lifecycle: fired (state ``firing``), later ``resolved``."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(ALERT_ID_MAX_CHARS), primary_key=True)
    topic: Mapped[str] = mapped_column(String(TOPIC_MAX_CHARS), index=True)
    state: Mapped[str] = mapped_column(String(16))
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    negative_rate: Mapped[float] = mapped_column(Float)
    baseline_rate: Mapped[float] = mapped_column(Float)
    volume: Mapped[int] = mapped_column(Integer)
    p_value: Mapped[float] = mapped_column(Float)
    top_terms: Mapped[list[Any]] = mapped_column(JSON)
    examples: Mapped[list[Any]] = mapped_column(JSON)
    emotions: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # which test fired: signal ("share" or "volume"), its window in minutes, and the negatives expected there
    signal: Mapped[str | None] = mapped_column(String(16), nullable=True)
    scale_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expected_negatives: Mapped[float | None] = mapped_column(Float, nullable=True)
    # share of the negatives per language, and the share of them that had emotions (the mood line's base)
    languages: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    emotion_coverage: Mapped[float | None] = mapped_column(Float, nullable=True)
    # set when the alert was recorded but not paged (found while catching up, too old to page)
    unpaged_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # how big it is (the page sorts by it) and what its baselines stood on (minutes of history, in words)
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    history_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    baseline_note: Mapped[str | None] = mapped_column(String(300), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertAckRow(Base):
    """An acknowledgement of an alert by a person (``POST /v1/alerts/{id}/ack``): who, when, and a note."""

    __tablename__ = "alert_acks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(ALERT_ID_MAX_CHARS), index=True)
    who: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    key_name: Mapped[str] = mapped_column(String(100))  # the API key that made it
    acked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DetectorStateRow(Base):
    """The detector's memory per topic, so a restarted alerter continues where it stopped."""

    __tablename__ = "detector_state"

    topic: Mapped[str] = mapped_column(String(TOPIC_MAX_CHARS), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxRow(Base):
    """An alert delivery to make to one channel (transactional outbox): written with the alert, sent by the
    dispatcher; ``failed_at`` once it gave up (bounded retries, or an answer that retrying cannot fix)."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    destination: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_term: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the leader's term that sent it


class AlerterTermRow(Base):
    """The alerter leadership term (one row): incremented by each alerter that takes the lock, checked by every
    delivery, so a deposed leader that has not noticed yet cannot send (services/alerting/leadership.py)."""

    __tablename__ = "alerter_term"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    term: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
