"""Personal data: a tweet's text lives in ``scored_tweets`` and, as an example, in the alerts that quoted it.

Two promises hold for every copy. A post its author deleted (a Bluesky delete event; X's filtered stream
sends none) is removed from the store and from every alert's examples as soon as the deletion is read. And
no copy outlives ``BADBUZZ_RETENTION_DAYS``: the retention job deletes old tweets and blanks the examples of
alerts older than that (the alerts keep their figures, words and mood; ``examples`` becomes ``[]``). Redis
and the webhooks receive alerts without example texts beyond what the webhook message itself shows
(services/alerting/redis_channel.py stores example ids only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, cast, delete, or_, select, update

from badbuzz.services.storage.tables import AlertRow, ScoredTweetRow, TweetTopicRow

SCRUB_BATCH = 500


def forget_tweets(conn: Connection, tweet_ids: Sequence[str]) -> int:
    """Delete the tweets and their topic links, and drop them from every alert's examples; returns how many
    stored tweets were deleted."""
    ids = list(dict.fromkeys(tweet_ids))
    if not ids:
        return 0
    conn.execute(delete(TweetTopicRow).where(TweetTopicRow.tweet_id.in_(ids)))
    deleted = int(conn.execute(delete(ScoredTweetRow).where(ScoredTweetRow.tweet_id.in_(ids))).rowcount or 0)
    quoted = or_(*(cast(AlertRow.examples, Text).contains(i) for i in ids))  # a prefilter; checked exactly below
    gone = set(ids)
    for alert_id, examples in conn.execute(select(AlertRow.id, AlertRow.examples).where(quoted)).all():
        kept = [e for e in examples or [] if not (isinstance(e, dict) and e.get("id") in gone)]
        if len(kept) != len(examples or []):
            conn.execute(update(AlertRow).where(AlertRow.id == alert_id).values(examples=kept))
    return deleted


def blank_old_examples(conn: Connection, before: datetime) -> int:
    """Blank the examples of alerts that fired before ``before`` (the tweets' own retention); returns how many."""
    quoting = [AlertRow.fired_at < before, cast(AlertRow.examples, Text) != "[]"]
    ids: list[Any] = list(conn.execute(select(AlertRow.id).where(*quoting).limit(SCRUB_BATCH)).scalars())
    if not ids:
        return 0
    return int(conn.execute(update(AlertRow).where(AlertRow.id.in_(ids)).values(examples=[])).rowcount or 0)
