"""The API's request and response bodies: what ``/openapi.json`` documents and every route returns.

Kept apart from the routes (``app.py``) so that a client's view of the API reads in one file; the record an
ingest carries is not declared here but taken from the scorer's own model
(:class:`~badbuzz.stream.scoring.validation.TweetRecord`), so the two cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, field_validator, model_validator

from badbuzz.stream.limits import LANG_MAX_CHARS, LANG_TAG
from badbuzz.stream.scoring.validation import TweetRecord

MAX_BATCH = 256  # texts per POST /v1/score


class ScoreRequest(BaseModel):
    """One text (``text``) or a batch (``texts``), not both."""

    text: str | None = Field(None, min_length=1, max_length=2_000)
    texts: list[Annotated[str, Field(min_length=1, max_length=2_000)]] | None = Field(
        None, min_length=1, max_length=MAX_BATCH)
    lang: str | None = Field(None, max_length=LANG_MAX_CHARS, pattern=LANG_TAG.pattern,
                             description="the texts' language (e.g. fr); detected per text when absent")

    @model_validator(mode="after")
    def one_of(self) -> ScoreRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give either 'text' or 'texts'")
        return self


class Score(BaseModel):
    text: str
    label: str  # "unscored" when no model is validated on the text's language
    probabilities: dict[str, float]
    emotions: dict[str, float] | None = None
    lang: str | None = None  # the language the text was routed by (given or detected; None: undetermined)
    model_version: str | None = None  # the model that scored it (models/serving/routing.py)
    unscored_reason: str | None = None


class ScoreResponse(BaseModel):
    model_version: str
    emotion_model: str | None
    scores: list[Score]


class MinuteStatus(BaseModel):
    minute: datetime | None
    tweets: int
    negatives: int
    negative_share: float | None


class HourStatus(BaseModel):
    tweets: int
    negatives: int
    negative_share: float | None


class TopicStatus(BaseModel):
    topic: str
    last_minute: MinuteStatus
    last_hour: HourStatus
    baseline_share: float | None
    status: str
    alert_id: str | None
    evaluated_through: str | None


class TimelinePoint(BaseModel):
    start: datetime
    tweets: int
    negatives: int
    negative_share: float | None


class AlertMark(BaseModel):
    id: str
    fired_at: datetime
    resolved_at: datetime | None
    state: str


class Timeline(BaseModel):
    topic: str
    step_minutes: int
    points: list[TimelinePoint]
    alerts: list[AlertMark]


class Ack(BaseModel):
    who: str
    note: str
    key_name: str
    acked_at: datetime


class Alert(BaseModel):
    id: str
    topic: str
    state: str
    fired_at: datetime
    resolved_at: datetime | None
    window_start: datetime
    window_end: datetime
    negative_rate: float
    baseline_rate: float
    volume: int
    p_value: float
    signal: str | None
    scale_minutes: int | None
    expected_negatives: float | None
    unpaged_reason: str | None = None  # recorded without a page: found while catching up, too old to page
    severity: str | None = None  # "critical", "high" or "moderate" (how big, not how sure)
    history_minutes: int | None = None  # minutes of the topic's history its baselines stood on
    baseline_note: str | None = None  # the same in words, with any seed file or borrowed prior


class Delivery(BaseModel):
    """One channel's delivery of one transition of the alert."""

    transition: str
    channel: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None


class AlertDetail(Alert):
    top_terms: list[dict[str, Any]]
    examples: list[dict[str, Any]]
    emotions: dict[str, float] | None
    acks: list[Ack]
    deliveries: list[Delivery]


class AlertPage(BaseModel):
    total: int
    limit: int
    offset: int
    next_offset: int | None
    alerts: list[Alert]


class AckRequest(BaseModel):
    who: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2_000)

    @field_validator("who", "note")
    @classmethod
    def storable(cls, value: str) -> str:
        """Stored as text, and PostgreSQL refuses NUL characters (pydantic already refuses unpaired surrogates)."""
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


MAX_INGEST = 1_000  # records per POST /v1/ingest


class IngestRequest(BaseModel):
    """``tweets.raw`` records, each ``{id, text, created_at, user?, lang?, topics?}`` (docs/contracts.md).

    Each record is validated on its own, by the scorer's model (:class:`TweetRecord`, whose schema the
    OpenAPI document shows), so one bad record is refused with its reason while the others are accepted."""

    records: list[Annotated[dict[str, Any], WithJsonSchema(TweetRecord.model_json_schema())]] = Field(
        min_length=1, max_length=MAX_INGEST)


class IngestRefusal(BaseModel):
    index: int
    reason: str


class IngestResult(BaseModel):
    accepted: int
    refused: list[IngestRefusal]
    destination: Literal["kafka", "store"]
