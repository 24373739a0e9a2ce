"""A corpus of bad and awkward ``tweets.raw`` messages, shared by the unit and integration tests.

Each entry: (kind of trouble, message bytes, expected outcome). ``"stored"`` means the message is odd but
valid and must be stored; otherwise the expected dead-letter kind. Timestamps are relative to ``now`` so
the corpus never ages out of the event-time window.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from badbuzz.stream.limits import TWEET_ID_MAX_CHARS


def _doc(tid: str, now: datetime, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {"id": tid, "text": f"poison test {tid}: my flight is late",
                               "created_at": (now - timedelta(minutes=1)).isoformat()}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def _enc(doc: object) -> bytes:
    return json.dumps(doc).encode()


def poison_corpus(prefix: str, now: datetime) -> list[tuple[str, bytes, str]]:
    """≥ 15 kinds of trouble; ids start with ``prefix`` so a test can find its own rows."""
    p = prefix
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = b'{"id": "' + p.encode() + b'nest", "text": "x", "created_at": 0, "user": ' + deep + b"}"
    return [
        ("lang of 40 characters", _enc(_doc(f"{p}lang", now, lang="e" * 40)), "schema"),
        ("user of 300 characters", _enc(_doc(f"{p}user", now, user="u" * 300)), "schema"),
        ("NUL in text", _enc(_doc(f"{p}nultext", now, text="late\u0000again")), "bad_characters"),
        ("NUL in user", _enc(_doc(f"{p}nuluser", now, user="bob\u0000")), "bad_characters"),
        ("other control character in text", _enc(_doc(f"{p}ctl", now, text="bell \u0007 late")), "bad_characters"),
        ("lone surrogate in text", f'{{"id": "{p}surr", "text": "bad \\ud800 pair", '
                                   f'"created_at": "{now.isoformat()}"}}'.encode(), "bad_characters"),
        ("non-UTF-8 bytes", b'{"id": "' + p.encode() + b'latin", "text": "caf\xe9 late"}', "decode"),
        ("10,000 topics", _enc(_doc(f"{p}manytopics", now, topics=[f"t{i}" for i in range(10_000)])), "too_large"),
        ("33 topics", _enc(_doc(f"{p}33topics", now, topics=[f"t{i}" for i in range(33)])), "schema"),
        ("500-character topic", _enc(_doc(f"{p}longtopic", now, topics=["t" * 500])), "schema"),
        ("topic outside the name pattern", _enc(_doc(f"{p}badtopic", now, topics=["Air Paradis!"])), "schema"),
        ("created_at in 2099", _enc(_doc(f"{p}2099", now, created_at="2099-01-01T00:00:00Z")), "future_event_time"),
        ("created_at in 1970", _enc(_doc(f"{p}1970", now, created_at="1970-01-01T00:00:00Z")), "stale_event_time"),
        ("created_at negative", _enc(_doc(f"{p}neg", now, created_at=-86_400)), "stale_event_time"),
        ("created_at year 10000", _enc(_doc(f"{p}y10k", now, created_at=1e15)), "schema"),
        ("top-level JSON array", b"[1, 2, 3]", "schema"),
        ("top-level JSON number", b"42", "schema"),
        ("top-level JSON string", b'"a tweet"', "schema"),
        ("JSON null", b"null", "schema"),
        ("1 MB text", _enc(_doc(f"{p}mega", now, text="x" * (1024 * 1024))), "too_large"),
        ("deeply nested JSON", nested, "too_large"),
        ("deeply nested small JSON", b'{"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", "decode"),
        ("integer of 5,000 digits", b'{"id": ' + b"9" * 5000 + b', "text": "x", "created_at": 0}', "decode"),
        ("empty value", b"", "empty"),
        ("whitespace text", _enc(_doc(f"{p}blank", now, text=" \n\t ")), "empty_text"),
        ("id with a newline", _enc(_doc(f"{p}nl\nid", now)), "bad_characters"),
        ("id one character over the limit", _enc(_doc(p + "i" * (TWEET_ID_MAX_CHARS + 1 - len(p)), now)), "schema"),
        ("boolean id", _enc(_doc(True, now)), "schema"),  # type: ignore[arg-type]
        ("emoji, RTL and zero-width text", _enc(_doc(f"{p}emoji", now, text="✈️😡 مطار ‏late​ again 👎🏽")), "stored"),
        ("text with newlines and tabs", _enc(_doc(f"{p}tabs", now, text="line one\n\tline two\r\n")), "stored"),
        ("language tag pt-BR and null user", _enc(_doc(f"{p}ptbr", now, lang="pt-BR", user=None)), "stored"),
        ("epoch seconds created_at", _enc(_doc(f"{p}epoch", now, created_at=now.timestamp() - 30)), "stored"),
        ("32 valid topics", _enc(_doc(f"{p}topics32", now, topics=[f"t{i}" for i in range(32)])), "stored"),
    ]


def duplicate_pair(prefix: str, now: datetime) -> list[tuple[str, bytes, str]]:
    """One id twice with different texts: the first is stored, the second is a conflicting duplicate."""
    return [
        ("duplicate id, first text", _enc(_doc(f"{prefix}dup", now, text="first text: late")), "stored"),
        ("duplicate id, other text", _enc(_doc(f"{prefix}dup", now, text="second text: great")), "duplicate_id"),
    ]
