"""Versioned message contracts of the stream (see docs/contracts.md).

``tweets.raw``    value: JSON ``{id, text, created_at, user?, lang?, topics?}``, key: tweet id.
``tweets.scored`` value: the raw fields plus ``label``, ``p_negative``, ``probabilities``,
                  ``model_version``, ``scored_at``, ``emotions`` (anger/joy/optimism/sadness
                  probabilities, or null where emotion was not run) and ``emotion_model``; ``lang`` is the
                  feed's tag or the detected language (``und``: undetermined). A tweet in a language no
                  model serves has label ``unscored``, no probabilities, ``p_negative`` null and
                  ``unscored_reason``.
``tweets.dlq``    value: the original bytes, untouched; headers carry the error and the origin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CONTRACT_VERSION = 1


@dataclass(frozen=True, slots=True)
class RawTweet:
    """A validated tweet as the scorer sees it."""

    id: str
    text: str
    created_at: datetime
    user: str | None = None
    lang: str | None = None
    topics: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "text": self.text, "created_at": self.created_at.isoformat()}
        if self.user is not None:
            doc["user"] = self.user
        if self.lang is not None:
            doc["lang"] = self.lang
        if self.topics:
            doc["topics"] = list(self.topics)
        return doc

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message came from: enough to find it again and to compute lag and latency."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message as a source hands it over, before any decoding."""

    value: bytes
    origin: Origin
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class ScoredTweet:
    """A tweet with its model scores: one row in the store, one record on ``tweets.scored``."""

    tweet: RawTweet
    label: str
    probabilities: dict[str, float]
    model_version: str
    scored_at: datetime
    origin: Origin | None = None
    emotions: dict[str, float] | None = None  # None: emotion not run for this tweet (see models/serving/scoring.py)
    emotion_model: str | None = None
    # why the tweet was stored without a score (label "unscored", no probabilities): no model is validated
    # on its language (models/serving/routing.py)
    unscored_reason: str | None = None

    @property
    def p_negative(self) -> float:
        return self.probabilities.get("negative", 0.0)

    @property
    def scored(self) -> bool:
        return self.unscored_reason is None

    def to_json(self) -> dict[str, Any]:
        doc = self.tweet.to_json()
        doc.update(
            label=self.label,
            p_negative=round(self.p_negative, 6) if self.scored else None,
            probabilities={k: round(v, 6) for k, v in self.probabilities.items()},
            model_version=self.model_version,
            scored_at=self.scored_at.isoformat(),
            emotions={k: round(v, 6) for k, v in self.emotions.items()} if self.emotions is not None else None,
        )
        if self.emotion_model is not None:
            doc["emotion_model"] = self.emotion_model
        if self.unscored_reason is not None:
            doc["unscored_reason"] = self.unscored_reason
        return doc

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that failed validation: original bytes kept, reason and origin attached."""

    message: IncomingMessage
    kind: str
    reason: str
    failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def headers(self) -> list[tuple[str, bytes]]:
        o = self.message.origin
        return [
            ("badbuzz.error.kind", self.kind.encode()),
            ("badbuzz.error.reason", self.reason.encode("utf-8")),
            ("badbuzz.source.topic", o.topic.encode()),
            ("badbuzz.source.partition", str(o.partition).encode()),
            ("badbuzz.source.offset", str(o.offset).encode()),
            ("badbuzz.failed_at", self.failed_at.isoformat().encode()),
        ]


@dataclass
class WriteResult:
    """What a store did with a batch: rows new to it, rows it refused (with its reason), conflicting ids."""

    inserted: int = 0
    rejected: list[tuple[ScoredTweet, str]] = field(default_factory=list)
    conflicting: list[ScoredTweet] = field(default_factory=list)
