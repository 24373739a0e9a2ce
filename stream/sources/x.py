"""X (Twitter) API v2 filtered stream: rules, the stream's payloads, and the reconnection policy X documents.

- Rules (``/2/tweets/search/stream/rules``) are made to match what the user asked for: missing ones added,
  ours that are no longer wanted deleted, so running the command twice changes nothing (idempotent).
  Ours are tagged ``badbuzz:`` so rules other tools created on the same app are left alone.
- The stream (``/2/tweets/search/stream``) is newline-delimited JSON with a keep-alive ``\\r\\n`` every 20
  seconds; a connection silent for 90 seconds is dead and is reopened.
- Reconnecting, as X's "Handling disconnections" guide asks: back off linearly (+250 ms, up to 16 s) after a
  network error, exponentially from 5 s (up to 320 s) after an HTTP error, exponentially from 60 s after a
  429, and never before the rate limit's reset time (``x-rate-limit-reset``) when it says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from badbuzz.stream.contracts import RawTweet

TAG_PREFIX = "badbuzz:"
STALL_S = 90.0
Failure = Literal["network", "http", "rate_limited"]


@dataclass
class Backoff:
    """The wait before the next connection attempt after ``failure``; ``reset()`` after data flows again."""

    network_step_s: float = 0.25
    network_max_s: float = 16.0
    http_first_s: float = 5.0
    http_max_s: float = 320.0
    rate_first_s: float = 60.0
    rate_max_s: float = 960.0
    _last: tuple[Failure, float] | None = None

    def next(self, failure: Failure, now: float | None = None, reset_at: float | None = None) -> float:
        same = self._last is not None and self._last[0] == failure
        previous = self._last[1] if same and self._last is not None else 0.0
        if failure == "network":
            wait = min(self.network_max_s, previous + self.network_step_s)
        elif failure == "http":
            wait = min(self.http_max_s, previous * 2 if previous else self.http_first_s)
        else:
            wait = min(self.rate_max_s, previous * 2 if previous else self.rate_first_s)
            if reset_at is not None and now is not None:  # never before the limit resets
                wait = max(wait, reset_at - now)
        self._last = (failure, wait)
        return wait

    def reset(self) -> None:
        self._last = None


def rule_changes(existing: Sequence[dict[str, Any]], wanted: Sequence[str | tuple[str, str]]
                 ) -> tuple[list[dict[str, str]], list[str]]:
    """(rules to add, ids of rules to delete) so that our tagged rules are exactly ``wanted``: rule values, or
    (topic, value) pairs, whose tag ``badbuzz:<topic>`` names the topic the rule's tweets belong to. A plain
    value's numbered tag is not compared (reordering the rules must not churn them); a topic's tag is."""
    tags: dict[str, str | None] = {}
    for w in wanted:
        value, tag = (w, None) if isinstance(w, str) else (w[1], f"{TAG_PREFIX}{w[0]}")
        tags[value] = tag
    ours = {r["value"]: (r["id"], r.get("tag")) for r in existing if str(r.get("tag", "")).startswith(TAG_PREFIX)}

    def kept(value: str) -> bool:
        return value in ours and (tags[value] is None or ours[value][1] == tags[value])

    add = [{"value": v, "tag": t or f"{TAG_PREFIX}{i}"} for i, (v, t) in enumerate(tags.items()) if not kept(v)]
    delete = [rid for value, (rid, _) in ours.items() if value not in tags or not kept(value)]
    return add, delete


def _topic_tag(tag: str) -> bool:
    return not tag[len(TAG_PREFIX):].isdigit()


def rule_topics(doc: dict[str, Any]) -> tuple[str, ...]:
    """The topics named by the tags of the rules a payload matched (``badbuzz:<topic>``; not our numbered
    tags, nor other tools' rules)."""
    found = []
    for rule in doc.get("matching_rules") or []:
        tag = str(rule.get("tag", "")) if isinstance(rule, dict) else ""
        if tag.startswith(TAG_PREFIX) and _topic_tag(tag):
            found.append(tag[len(TAG_PREFIX):])
    return tuple(dict.fromkeys(found))


STREAM_FIELDS = {"tweet.fields": "created_at,lang,author_id", "expansions": "author_id", "user.fields": "username"}


def map_tweet(doc: Any) -> RawTweet | None:
    """One stream payload (``{"data": {...}, "includes": {...}, "matching_rules": [...]}``) as a ``tweets.raw``
    record; None for payloads that carry no tweet (e.g. an ``errors`` notice); ValueError when malformed."""
    if not isinstance(doc, dict):
        raise ValueError("a stream payload is a JSON object")
    data = doc.get("data")
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("text"), str):
        raise ValueError("a tweet needs a string id and text")
    created = data.get("created_at")
    try:
        when = datetime.fromisoformat(str(created).replace("Z", "+00:00")) if created else datetime.now(UTC)
    except ValueError:
        raise ValueError(f"created_at is not a timestamp: {created!r}") from None
    users = {u.get("id"): u.get("username") for u in (doc.get("includes") or {}).get("users") or []
             if isinstance(u, dict)}
    author = users.get(data.get("author_id")) or data.get("author_id")
    lang = data.get("lang") if isinstance(data.get("lang"), str) and data.get("lang") != "und" else None
    return RawTweet(data["id"], data["text"], when if when.tzinfo else when.replace(tzinfo=UTC),
                    user=author if isinstance(author, str) else None, lang=lang, topics=rule_topics(doc))
