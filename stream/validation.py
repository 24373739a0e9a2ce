"""Decode and validate ``tweets.raw`` messages.

Everything that can be wrong with a message from an arbitrary producer is caught here and turned into an
:class:`InvalidMessage` with a stable ``kind`` and a human reason, so the scorer dead-letters it instead of
crashing (and then crash-looping on the same offset).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from badbuzz.stream.contracts import RawTweet
from badbuzz.stream.errors import InvalidMessage

MAX_ID_CHARS = 64


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """Limits that protect the scorer. Tweets are at most 280 characters; anything far longer is not a tweet.

    ``max_message_bytes`` is checked before parsing so a huge payload costs nothing to reject.
    """

    max_text_chars: int = 2_000
    max_message_bytes: int = 64 * 1024


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
    if not isinstance(doc, dict):
        raise InvalidMessage("schema", f"value must be a JSON object, got {type(doc).__name__}")
    return RawTweet(
        id=_tweet_id(doc.get("id")),
        text=_text(doc.get("text"), limits),
        created_at=parse_timestamp(doc.get("created_at")),
        user=_optional_str(doc, "user"),
        lang=_optional_str(doc, "lang"),
        topics=_topics(doc.get("topics")),
    )


def _tweet_id(raw: Any) -> str:
    if raw is None:
        raise InvalidMessage("schema", "field 'id' is missing")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InvalidMessage("schema", f"field 'id' must be a string or an integer, got {type(raw).__name__}")
    tid = str(raw).strip()
    if not tid:
        raise InvalidMessage("schema", "field 'id' is empty")
    if len(tid) > MAX_ID_CHARS:
        raise InvalidMessage("schema", f"field 'id' is {len(tid)} characters; the limit is {MAX_ID_CHARS}")
    return tid


def _text(raw: Any, limits: ValidationLimits) -> str:
    if raw is None:
        raise InvalidMessage("schema", "field 'text' is missing")
    if not isinstance(raw, str):
        raise InvalidMessage("schema", f"field 'text' must be a string, got {type(raw).__name__}")
    if not raw.strip():
        raise InvalidMessage("empty_text", "field 'text' is empty")
    if len(raw) > limits.max_text_chars:
        raise InvalidMessage(
            "too_large", f"field 'text' is {len(raw)} characters; the limit is {limits.max_text_chars}"
        )
    return raw


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
            raise InvalidMessage("schema", f"field 'created_at' is out of range: {raw!r}") from None
    if not isinstance(raw, str):
        raise InvalidMessage("schema", f"field 'created_at' must be a string, got {type(raw).__name__}")
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMessage("schema", f"field 'created_at' is not ISO 8601: {raw[:40]!r}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    raw = doc.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidMessage("schema", f"field '{key}' must be a string, got {type(raw).__name__}")
    return raw[:256]


def _topics(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InvalidMessage("schema", "field 'topics' must be a list of strings")
    return tuple(dict.fromkeys(t for t in raw if t))
