"""Bluesky through Jetstream (https://github.com/bluesky-social/jetstream): the public firehose as JSON over
a WebSocket, no account needed.

A post arrives as a ``commit`` event with ``operation: create`` in the ``app.bsky.feed.post`` collection; its
id in ``tweets.raw`` is the post's AT URI (``at://<did>/app.bsky.feed.post/<rkey>``), so a post delivered
twice (after a reconnect that rewinds the cursor) is stored once. Cursors are ``time_us`` (unix
microseconds): on reconnect the client asks for events from a few seconds before the last one it handed on,
so nothing falls into the gap.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from badbuzz.stream.contracts import RawTweet

POST = "app.bsky.feed.post"
REWIND_US = 5_000_000  # Jetstream's advice: rewind a few seconds for gapless playback, process idempotently
MENTION = "app.bsky.richtext.facet#mention"


@dataclass(frozen=True)
class PostFilter:
    """Which posts are about the brand: any keyword in the text (case-insensitive, whole words), or a mention
    of one of the handles (``@airparadis.bsky.social``, as text or a mention facet's DID); optionally only some
    languages. With no keyword and no handle every post passes (for a test, or a firehose sample)."""

    keywords: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    dids: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()

    @cached_property
    def _words(self) -> re.Pattern[str] | None:
        words = [re.escape(k.strip().lower()) for k in self.keywords if k.strip()]
        return re.compile(r"(?<!\w)(" + "|".join(words) + r")(?!\w)", re.I) if words else None

    def accepts(self, text: str, langs: Iterable[str], mentioned: Iterable[str]) -> bool:
        if self.langs and not {lang.split("-")[0].lower() for lang in langs} & {x.lower() for x in self.langs}:
            return False
        if not self.keywords and not self.handles and not self.dids:
            return True
        if self._words is not None and self._words.search(text):
            return True
        lowered = text.lower()
        if any(f"@{h.lstrip('@').lower()}" in lowered for h in self.handles):
            return True
        return bool(set(mentioned) & set(self.dids))


def subscribe_url(base: str, cursor_us: int | None) -> str:
    """The Jetstream subscription: posts only, from ``cursor_us`` (minus the rewind) when resuming."""
    query: list[tuple[str, str]] = [("wantedCollections", POST)]
    if cursor_us is not None:
        query.append(("cursor", str(max(0, cursor_us - REWIND_US))))
    return f"{base.rstrip('/')}?{urllib.parse.urlencode(query)}"


@dataclass(frozen=True)
class Mapped:
    """What one Jetstream event became: a post for ``tweets.raw`` (or None: not a new post, or filtered out)
    and the event's cursor (None for events without one, e.g. heartbeats)."""

    tweet: RawTweet | None
    cursor_us: int | None
    filtered: bool = False
    deleted: str | None = None  # the id of a post its author deleted: every stored copy of it must go


def map_event(doc: Any, flt: PostFilter) -> Mapped:
    """A Jetstream event (parsed JSON) as a ``tweets.raw`` record; raises ValueError on a malformed event."""
    if not isinstance(doc, dict):
        raise ValueError("a Jetstream event is a JSON object")
    cursor = doc.get("time_us")
    cursor_us = int(cursor) if isinstance(cursor, int) and not isinstance(cursor, bool) else None
    commit = doc.get("commit")
    if doc.get("kind") != "commit" or not isinstance(commit, dict):
        return Mapped(None, cursor_us)
    if commit.get("collection") != POST:
        return Mapped(None, cursor_us)
    if commit.get("operation") == "delete":  # no record, only its key: forwarded whatever the filter says
        did, rkey = doc.get("did"), commit.get("rkey")
        if not isinstance(did, str) or not isinstance(rkey, str):
            raise ValueError("a post deletion needs did and rkey")
        return Mapped(None, cursor_us, deleted=f"at://{did}/{POST}/{rkey}")
    if commit.get("operation") != "create":
        return Mapped(None, cursor_us)
    record, did, rkey = commit.get("record"), doc.get("did"), commit.get("rkey")
    if not isinstance(record, dict) or not isinstance(did, str) or not isinstance(rkey, str):
        raise ValueError("a post commit needs did, rkey and record")
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("a post record needs its text")
    langs = [x for x in record.get("langs") or [] if isinstance(x, str)]
    if not flt.accepts(text, langs, mentions(record)):
        return Mapped(None, cursor_us, filtered=True)
    created = record.get("createdAt")
    when = _when(created) if isinstance(created, str) else None
    if when is None and cursor_us is not None:  # a missing or broken createdAt: the event's own time
        when = datetime.fromtimestamp(cursor_us / 1e6, UTC)
    if when is None:
        raise ValueError("a post without createdAt or time_us")
    return Mapped(RawTweet(f"at://{did}/{POST}/{rkey}", text, when, user=did, lang=langs[0] if langs else None),
                  cursor_us)


def mentions(record: dict[str, Any]) -> list[str]:
    """The DIDs a post mentions (its ``app.bsky.richtext.facet#mention`` facets)."""
    found = []
    for facet in record.get("facets") or []:
        for feature in facet.get("features") or [] if isinstance(facet, dict) else []:
            if isinstance(feature, dict) and feature.get("$type") == MENTION and isinstance(feature.get("did"), str):
                found.append(feature["did"])
    return found


def _when(value: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
