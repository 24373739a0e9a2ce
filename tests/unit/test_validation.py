from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from badbuzz.stream.errors import InvalidMessage
from badbuzz.stream.scoring.validation import ValidationLimits, decode_tweet

LIMITS = ValidationLimits(max_text_chars=500, max_message_bytes=4096)


def enc(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_valid_tweet_round_trips() -> None:
    t = decode_tweet(enc({"id": 42, "text": "late again", "created_at": "2009-04-06T22:19:45-07:00",
                          "user": "bob", "lang": "en", "topics": ["delays", "delays", "all"]}), LIMITS)
    assert t.id == "42"
    assert t.text == "late again"
    assert t.created_at == datetime(2009, 4, 7, 5, 19, 45, tzinfo=UTC)
    assert t.topics == ("delays", "all")
    assert decode_tweet(t.encode(), LIMITS) == t


def test_naive_timestamp_is_read_as_utc_and_epoch_accepted() -> None:
    t = decode_tweet(enc({"id": "1", "text": "x", "created_at": "2020-01-01T00:00:00"}), LIMITS)
    assert t.created_at.tzinfo is not None and t.created_at.hour == 0
    e = decode_tweet(enc({"id": "1", "text": "x", "created_at": 0}), LIMITS)
    assert e.created_at == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "kind", "fragment"),
    [
        (b"", "empty", "empty"),
        (b"{not json", "decode", "not JSON"),
        (b"\xff\xfe\x00", "decode", "UTF-8"),
        (b"[1, 2]", "schema", "JSON object"),
        (enc({"text": "x", "created_at": 0}), "schema", "'id' is missing"),
        (enc({"id": True, "text": "x", "created_at": 0}), "schema", "'id' must be"),
        (enc({"id": "1", "created_at": 0}), "schema", "'text' is missing"),
        (enc({"id": "1", "text": 12, "created_at": 0}), "schema", "'text' must be a string"),
        (enc({"id": "1", "text": "   ", "created_at": 0}), "empty_text", "empty"),
        (enc({"id": "1", "text": "x" * 501, "created_at": 0}), "too_large", "501 characters"),
        (enc({"id": "1", "text": "x" * 5000, "created_at": 0}), "too_large", "bytes"),
        (enc({"id": "1", "text": "x"}), "schema", "'created_at' is missing"),
        (enc({"id": "1", "text": "x", "created_at": "yesterday"}), "schema", "ISO 8601"),
        (enc({"id": "1", "text": "x", "created_at": 0, "user": 5}), "schema", "'user' must be"),
        (enc({"id": "1", "text": "x", "created_at": 0, "topics": "a"}), "schema", "'topics'"),
    ],
)
def test_bad_messages_get_a_kind_and_a_clear_reason(value: bytes, kind: str, fragment: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_tweet(value, LIMITS)
    assert info.value.kind == kind
    assert fragment in info.value.reason
