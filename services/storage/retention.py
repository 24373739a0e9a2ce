"""Data lifecycle: raw tweets are kept ``BADBUZZ_RETENTION_DAYS`` (default 30), the per-minute rollups and
the alerts much longer (their own settings), because the alerter's baselines and the dashboards need
months of counts but nobody needs the text of a tweet from last year, and personal data should not be
kept longer than its use.

The job deletes in small batches, each in its own transaction, so it never holds long locks on a table the
scorer is writing to; it is idempotent and safe to run from several places (the leading alerter runs it
every hour; ``badbuzz db retention`` runs it once, e.g. from a Kubernetes CronJob). Age is tweet time
(``created_at``, indexed): the scorer dead-letters tweets older than ``BADBUZZ_MAX_EVENT_AGE_DAYS``, so
tweet time and storage time differ by at most that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, func, or_, select

from badbuzz.services.storage.personal_data import SCRUB_BATCH, blank_old_examples
from badbuzz.services.storage.tables import (
    AlertAckRow,
    AlertRow,
    OutboxRow,
    ScoredTweetRow,
    TopicMinuteRow,
    TweetTopicRow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    tweets: timedelta = timedelta(days=30)
    rollups: timedelta = timedelta(days=400)
    alerts: timedelta = timedelta(days=730)


def apply_retention(engine: Engine, policy: RetentionPolicy, now: datetime, *, batch: int = 5_000) -> dict[str, int]:
    """Delete what is older than the policy allows; returns the rows deleted per table."""
    deleted = {"scored_tweets": 0, "tweet_topics": 0, "topic_minute_rollups": 0, "alerts": 0, "alert_acks": 0,
               "alert_outbox": 0, "alert_examples": 0}
    tweet_cutoff = now - policy.tweets
    while True:  # tweets and their topic links, a batch at a time
        with engine.begin() as conn:
            ids = select(ScoredTweetRow.tweet_id).where(ScoredTweetRow.created_at < tweet_cutoff).limit(batch)
            chosen = [r for (r,) in conn.execute(ids)]
            if not chosen:
                break
            deleted["tweet_topics"] += conn.execute(
                delete(TweetTopicRow).where(TweetTopicRow.tweet_id.in_(chosen))).rowcount or 0
            deleted["scored_tweets"] += conn.execute(
                delete(ScoredTweetRow).where(ScoredTweetRow.tweet_id.in_(chosen))).rowcount or 0
    while True:  # the tweets' texts quoted as alert examples go with the tweets
        with engine.begin() as conn:
            blanked = blank_old_examples(conn, tweet_cutoff)
        deleted["alert_examples"] += blanked
        if blanked < SCRUB_BATCH:
            break
    with engine.begin() as conn:
        deleted["topic_minute_rollups"] = conn.execute(
            delete(TopicMinuteRow).where(TopicMinuteRow.minute < now - policy.rollups)).rowcount or 0
    alert_cutoff = now - policy.alerts
    with engine.begin() as conn:  # resolved alerts long gone, with their acknowledgements and deliveries
        old = [r for (r,) in conn.execute(select(AlertRow.id).where(
            AlertRow.state == "resolved", func.coalesce(AlertRow.resolved_at, AlertRow.fired_at) < alert_cutoff))]
        for i in range(0, len(old), batch):
            part = old[i:i + batch]
            deleted["alert_acks"] += conn.execute(
                delete(AlertAckRow).where(AlertAckRow.alert_id.in_(part))).rowcount or 0
            deleted["alerts"] += conn.execute(delete(AlertRow).where(AlertRow.id.in_(part))).rowcount or 0
        # deliveries given up on (or for channels since removed) that are as old as the alerts we drop
        deleted["alert_outbox"] = conn.execute(delete(OutboxRow).where(and_(
            OutboxRow.created_at < alert_cutoff,
            or_(OutboxRow.failed_at.is_not(None), OutboxRow.delivered_at.is_(None))))).rowcount or 0
    if any(deleted.values()):
        log.info("retention: deleted %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
    return deleted
