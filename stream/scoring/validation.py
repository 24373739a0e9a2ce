"""Decode and validate ``tweets.raw`` messages.

Everything that can be wrong with a message from an arbitrary producer is caught here and turned into an
:class:`InvalidMessage` with a stable ``kind`` and a human reason, so the scorer dead-letters it instead of
crashing (and then crash-looping on the same offset). Every bound comes from :mod:`badbuzz.stream.limits`,
which the storage schema is declared with: what passes here can be stored.

The record's contract is one pydantic model, :class:`TweetRecord`: the scorer, the connectors (through their
sink) and ``POST /v1/ingest`` validate with it, and the API publishes its JSON schema. Its field validators
raise errors whose type *is* the dead-letter kind (``schema``, ``empty_text``, ``too_large``,
``bad_characters``), because those kinds are a contract too: they label the dead-letter metrics and records.

Two steps: :func:`decode_tweet` needs only the bytes; :func:`check_event_time` needs the clock, because a
tweet dated far in the future (or decades ago) must never move the stream's event-time watermark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from badbuzz.stream.contracts import RawTweet
from badbuzz.stream.errors import InvalidMessage
from badbuzz.stream.limits import (
    LANG_MAX_CHARS,
    LANG_TAG,
    TOPIC_MAX_CHARS,
    TOPIC_NAME,
    TOPICS_MAX_COUNT,
    TWEET_ID_MAX_CHARS,
    USER_MAX_CHARS,
    bad_character,
)

MAX_ID_CHARS = TWEET_ID_MAX_CHARS


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """Limits that protect the scorer. Tweets are at most 280 characters; anything far longer is not a tweet.

    ``max_message_bytes`` is checked before parsing so a huge payload costs nothing to reject.
    ``max_future_skew`` tolerates producers whose clocks run a little ahead; ``max_age`` keeps tweets
    older than the store's retention (or with a broken clock, 1970) out of the live stream.
    """

    max_text_chars: int = 2_000
    max_message_bytes: int = 64 * 1024
    max_future_skew: timedelta = timedelta(minutes=10)
    max_age: timedelta = timedelta(days=30)


def _refuse(kind: str, reason: str) -> PydanticCustomError:
    """An error pydantic collects like its own, typed with the dead-letter ``kind``. The reason travels in the
    context rather than as the template, so braces in a quoted input cannot break the formatting."""
    return PydanticCustomError(kind, "{reason}", {"reason": reason})


def _chars(name: str, value: str, *, multiline: bool) -> None:
    problem = bad_character(value, multiline=multiline)
    if problem:
        raise _refuse("bad_characters", f"field '{name}' holds {problem}")


def _tweet_id(raw: Any) -> str:
    if raw is None:
        raise _refuse("schema", "field 'id' is missing")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _refuse("schema", f"field 'id' must be a string or an integer, got {type(raw).__name__}")
    # json.loads already refuses integers too long to convert (a `decode` dead letter); the length check
    # below bounds the rest, so an integer id needs no range test of its own.
    tid = raw.strip() if isinstance(raw, str) else str(raw)
    if not tid:
        raise _refuse("schema", "field 'id' is empty")
    if len(tid) > TWEET_ID_MAX_CHARS:
        raise _refuse("schema", f"field 'id' is {len(tid)} characters; the limit is {TWEET_ID_MAX_CHARS}")
    _chars("id", tid, multiline=False)
    return tid


def _text(raw: Any, info: ValidationInfo) -> str:
    limits = info.context if isinstance(info.context, ValidationLimits) else ValidationLimits()
    if raw is None:
        raise _refuse("schema", "field 'text' is missing")
    if not isinstance(raw, str):
        raise _refuse("schema", f"field 'text' must be a string, got {type(raw).__name__}")
    if not raw.strip():
        raise _refuse("empty_text", "field 'text' is empty")
    if len(raw) > limits.max_text_chars:
        raise _refuse("too_large", f"field 'text' is {len(raw)} characters; the limit is {limits.max_text_chars}")
    _chars("text", raw, multiline=True)
    return raw


def _timestamp(raw: Any) -> datetime:
    try:
        return parse_timestamp(raw)
    except InvalidMessage as exc:
        raise _refuse(exc.kind, exc.reason) from None


def _short_str(key: str, max_chars: int) -> BeforeValidator:
    def check(raw: Any) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise _refuse("schema", f"field '{key}' must be a string, got {type(raw).__name__}")
        if len(raw) > max_chars:
            raise _refuse("schema", f"field '{key}' is {len(raw)} characters; the limit is {max_chars}")
        _chars(key, raw, multiline=False)
        return raw

    return BeforeValidator(check)


def _lang_tag(lang: str | None) -> str | None:
    if lang is not None and not LANG_TAG.match(lang):
        raise _refuse("schema", f"field 'lang' is not a language tag such as 'en' or 'pt-BR': {lang!r}")
    return lang


def _topics(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise _refuse("schema", "field 'topics' must be a list of strings")
    names = tuple(dict.fromkeys(t for t in raw if t))
    if len(names) > TOPICS_MAX_COUNT:
        raise _refuse("schema", f"field 'topics' lists {len(names)} topics; the limit is {TOPICS_MAX_COUNT}")
    for name in names:
        if len(name) > TOPIC_MAX_CHARS:
            raise _refuse("schema", f"topic name is {len(name)} characters; the limit is {TOPIC_MAX_CHARS}")
        if not TOPIC_NAME.match(name):
            raise _refuse("schema", f"topic name {name[:40]!r} must match {TOPIC_NAME.pattern}")
    return names


class TweetRecord(BaseModel):
    """One ``tweets.raw`` record as any producer may send it (docs/contracts.md). Unknown keys are ignored, so
    producers can carry more than the scorer reads. ``text``'s length limit is the deployment's
    (:class:`ValidationLimits`, passed as the validation context); the schema shows the default."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    id: Annotated[str, BeforeValidator(_tweet_id), WithJsonSchema(
        {"anyOf": [{"type": "string", "minLength": 1, "maxLength": TWEET_ID_MAX_CHARS}, {"type": "integer"}],
         "description": "the post's id on its network (a tweet id, a Bluesky AT URI); the Kafka key"})]
    text: Annotated[str, BeforeValidator(_text), WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": ValidationLimits().max_text_chars,
         "description": "not blank; no control characters other than tab and line breaks"})]
    created_at: Annotated[datetime, BeforeValidator(_timestamp), WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
         "description": "ISO 8601 (naive means UTC) or epoch seconds; at most 10 minutes ahead of the scorer"})]
    user: Annotated[str | None, _short_str("user", USER_MAX_CHARS), WithJsonSchema(
        {"type": "string", "maxLength": USER_MAX_CHARS})] = None
    lang: Annotated[str | None, BeforeValidator(_lang_tag), _short_str("lang", LANG_MAX_CHARS), WithJsonSchema(
        {"type": "string", "maxLength": LANG_MAX_CHARS, "pattern": LANG_TAG.pattern,
         "description": "the feed's language tag (en, fr, pt-BR); detected when absent"})] = None
    topics: Annotated[tuple[str, ...], BeforeValidator(_topics), WithJsonSchema(
        {"type": "array", "maxItems": TOPICS_MAX_COUNT,
         "items": {"type": "string", "maxLength": TOPIC_MAX_CHARS, "pattern": TOPIC_NAME.pattern}})] = ()

    def tweet(self) -> RawTweet:
        """The validated record as the scorer's contract type."""
        return RawTweet(id=self.id, text=self.text, created_at=self.created_at, user=self.user, lang=self.lang,
                        topics=self.topics)


def _invalid(error: ValidationError) -> InvalidMessage:
    """The first problem, in field order, as a dead letter: our own errors carry their kind and reason; a
    missing field is a ``schema`` error like any other shape problem."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    reason = (first.get("ctx") or {}).get("reason")
    if isinstance(reason, str):
        return InvalidMessage(first["type"], reason)
    if first["type"] == "missing":
        return InvalidMessage("schema", f"field '{where}' is missing")
    return InvalidMessage("schema", f"field '{where}': {first['msg']}")


def decode_tweet(value: bytes | None, limits: ValidationLimits) -> RawTweet:
    """Parse one message value into a :class:`RawTweet` or raise :class:`InvalidMessage`."""
    if value is None or len(value) == 0:
        raise InvalidMessage("empty", "message value is empty")
    if len(value) > limits.max_message_bytes:
        raise InvalidMessage(
            "too_large", f"message is {len(value)} bytes; the limit is {limits.max_message_bytes}"
        )
    try:
        doc = json.loads(value.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidMessage("decode", f"value is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidMessage("decode", f"value is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidMessage("decode", "value is JSON nested too deeply to be a tweet") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise InvalidMessage("decode", f"value is not usable JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidMessage("schema", f"value must be a JSON object, got {type(doc).__name__}")
    try:
        return TweetRecord.model_validate(doc, context=limits).tweet()
    except ValidationError as exc:
        raise _invalid(exc) from None


DELETION_KEYS = frozenset({"id", "deleted", "deleted_at"})


def deletion_of(value: bytes | None) -> str | None:
    """The tweet id of a deletion record (``{"id": …, "deleted": true}``: the author deleted the post, so
    every stored copy of it must go), or None for anything else, which is then validated as a tweet."""
    if not value or b'"deleted"' not in value:
        return None
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("deleted") is not True or not set(doc) <= DELETION_KEYS:
        return None
    tid = doc.get("id")
    if not isinstance(tid, str) or not tid or len(tid) > TWEET_ID_MAX_CHARS or bad_character(tid, multiline=False):
        return None
    return tid


def validate(value: bytes | None, now: datetime, limits: ValidationLimits) -> RawTweet:
    """Every rule a ``tweets.raw`` message must pass to be scored (:func:`decode_tweet`, then
    :func:`check_event_time`): the one check the scorer, the connectors and ``POST /v1/ingest`` share."""
    tweet = decode_tweet(value, limits)
    check_event_time(tweet, now, limits)
    return tweet


def check_event_time(tweet: RawTweet, now: datetime, limits: ValidationLimits) -> None:
    """Refuse event times the stream cannot use: too far ahead of ``now`` or older than ``max_age``.

    Not clamped: a clamped time would be a made-up time, and one 2099 tweet would close every minute
    until 2099 for the alerter.
    """
    ahead = tweet.created_at - now
    if ahead > limits.max_future_skew:
        raise InvalidMessage(
            "future_event_time",
            f"field 'created_at' {tweet.created_at.isoformat()} is {_span(ahead)} ahead of the scorer's clock; "
            f"the tolerance is {_span(limits.max_future_skew)}",
        )
    age = now - tweet.created_at
    if age > limits.max_age:
        raise InvalidMessage(
            "stale_event_time",
            f"field 'created_at' {tweet.created_at.isoformat()} is {_span(age)} old; "
            f"the limit is {_span(limits.max_age)}",
        )


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:,.0f} days"
    if seconds >= 2 * 3_600:
        return f"{seconds / 3_600:.0f} hours"
    return f"{seconds / 60:.0f} minutes"


def parse_timestamp(raw: Any) -> datetime:
    """ISO 8601 string or epoch seconds → aware UTC datetime. A naive ISO string is read as UTC."""
    if raw is None:
        raise InvalidMessage("schema", "field 'created_at' is missing")
    if isinstance(raw, bool):
        raise InvalidMessage("schema", "field 'created_at' must be an ISO 8601 string or epoch seconds")
    if isinstance(raw, int | float):
        try:
            return datetime.fromtimestamp(float(raw), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidMessage("schema", f"field 'created_at' is out of range: {str(raw)[:40]}") from None
    if not isinstance(raw, str):
        raise InvalidMessage("schema", f"field 'created_at' must be a string, got {type(raw).__name__}")
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidMessage("schema", f"field 'created_at' is not ISO 8601: {raw[:40]!r}") from None
