"""The scorer's hot write on PostgreSQL: a batch of tweets through ``COPY``, then one statement that keeps the new.

Why: multi-row ``INSERT … VALUES`` costs the client more than the database. Each batch is a new SQL text of
a few kilobytes that psycopg parses again (its query cache skips long statements), with one parameter per
cell; the profile of a scorer with a null model put the store first among its stages. ``COPY`` streams the
rows in PostgreSQL's text format, with no statement to build or parse per batch. The rows land in a
session-local staging table (emptied at every commit), and one statement moves the ones not stored yet into
``scored_tweets`` and their topic memberships into ``tweet_topics``, returning their ids: the same
idempotence as ``INSERT … ON CONFLICT DO NOTHING``, the same transaction as the rollups written after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from badbuzz.services.storage.tables import ScoredTweetRow

STAGING = "scored_tweets_in"
COLUMNS = [c.name for c in ScoredTweetRow.__table__.columns]
JSON_COLUMNS = frozenset({"topics", "probabilities", "emotions"})
_NAMES = ", ".join(f'"{c}"' for c in COLUMNS)
# IF NOT EXISTS on every batch (a catalogue lookup) rather than a flag per connection: a table created in a
# transaction that rolled back is gone, and a stale flag would turn every later batch into "no such table"
CREATE_STAGING = (f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} "
                  f"(LIKE {ScoredTweetRow.__tablename__} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
COPY_IN = f"COPY {STAGING} ({_NAMES}) FROM STDIN"
# the topics travel in the staging row and become tweet_topics rows; scored_tweets.topics stays the empty list
# the INSERT path leaves there (memberships are the one place topics are kept)
_SELECTED = ", ".join("'[]'::json" if c == "topics" else f'"{c}"' for c in COLUMNS)
KEEP_NEW = f"""
WITH new AS (
    INSERT INTO {ScoredTweetRow.__tablename__} ({_NAMES}) SELECT {_SELECTED} FROM {STAGING}
    ON CONFLICT (tweet_id) DO NOTHING
    RETURNING tweet_id
), memberships AS (
    INSERT INTO tweet_topics (tweet_id, topic)
    SELECT s.tweet_id, t.topic FROM new JOIN {STAGING} s USING (tweet_id)
    CROSS JOIN LATERAL json_array_elements_text(s.topics) AS t(topic)
    ON CONFLICT DO NOTHING
)
SELECT tweet_id FROM new
"""


def copy_new_tweets(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Store ``rows`` (``scored_tweets`` columns, ``topics`` a list) that are not stored yet, with their topic
    memberships, inside ``conn``'s transaction; returns the ids that were new."""
    conn.exec_driver_sql(CREATE_STAGING)
    raw = conn.connection.driver_connection
    assert raw is not None
    with _as_sqlalchemy_errors(conn, raw), raw.cursor() as cur, cur.copy(COPY_IN) as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in JSON_COLUMNS and row[c] is not None else row[c]
                            for c in COLUMNS])
    return [r[0] for r in conn.exec_driver_sql(KEEP_NEW)]


@contextmanager
def _as_sqlalchemy_errors(conn: Connection, raw: Any) -> Iterator[None]:
    """A driver error raised outside SQLAlchemy's execute, as SQLAlchemy would raise it: the store's retry
    (a lost connection) and its split-in-halves (a value the database refuses) see the same exceptions
    whichever statement failed, and a connection that died mid-COPY is dropped from the pool."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        broken = bool(raw.closed or raw.broken)
        if broken:
            conn.invalidate(exc)
        raise DBAPIError.instance(COPY_IN, None, exc, psycopg.Error, connection_invalidated=broken) from exc
