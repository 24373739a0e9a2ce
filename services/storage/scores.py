"""SQLAlchemy models and the idempotent bulk writer for scored tweets.

One row per tweet with the tweet id as primary key, written with ``INSERT … ON CONFLICT DO NOTHING`` in
multi-row statements: a batch replayed after a crash cannot duplicate a row. PostgreSQL in server mode,
SQLite in embedded mode, through the same models.

Each statement is built once and executed with a list of rows: SQLAlchemy compiles it once (its cache) and
sends the rows as multi-row ``VALUES`` pages (its "insertmanyvalues"). Building ``.values(rows)`` per batch
instead compiled a new statement for every batch, which cost more client CPU than the rows themselves. On
PostgreSQL the tweets themselves go through ``COPY`` (services/storage/pg_copy.py), cheaper still.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from badbuzz.services.storage.pg_copy import copy_new_tweets
from badbuzz.services.storage.tables import (
    ModelVersionRow,
    ScoredTweetRow,
    StreamProgressRow,
    TopicMinuteRow,
    TweetTopicRow,
)
from badbuzz.stream.contracts import ScoredTweet, WriteResult
from badbuzz.stream.detection.aggregation import increments
from badbuzz.stream.errors import StoreUnavailable

log = logging.getLogger(__name__)
NEGATIVE = "negative"
T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the event time of a partition not read yet


SCHEMA_LOCK = 0x6261646275  # "badbu": one advisory lock id for schema creation


def make_engine(url: str, *, wait_s: float = 0.0) -> Engine:
    """An engine on a database migrated to the newest schema (services/storage/migrations), waiting up to ``wait_s``
    for a database that does not answer yet.

    Replicas starting together on one PostgreSQL database would race on the DDL, so the migration runs under
    a transaction-scoped advisory lock there: the first one migrates, the others wait and find nothing to do.
    """
    from badbuzz.services.storage import migrations

    engine = create_engine(url, pool_pre_ping=True, future=True, hide_parameters=True,
                           connect_args=postgres_session_args(url))
    deadline = time.monotonic() + wait_s
    delay = 1.0
    while True:
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
                for line in migrations.upgrade(conn):
                    log.info("database schema: %s", line)
            return engine
        except OperationalError as exc:
            # a server down, restarting or not up yet is waited for (a service started, or rolled, during a
            # database outage must not exit and stay down); a refused password is not, and fails at once
            if not _unreachable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("waiting for the database (%s); retrying in %.0f s", _reason(exc), delay)
            time.sleep(delay)
            delay = min(10.0, delay * 2)


# libpq connection parameters every PostgreSQL session of ours gets. Why each one:
# - timezone=UTC: psycopg hands timestamps back in the session's zone, and initdb takes the host's zone; a
#   Europe/Paris database would otherwise show local time labelled UTC and repeat an hour across DST.
# - keepalives, on both ends: a peer whose machine vanished (no FIN, no RST) is noticed in ~25 s instead of
#   the kernel's two hours. The server's side (the tcp_* settings in ``options``) is what matters for
#   fencing: the server then ends the dead leader's session and frees its advisory lock for a standby. The
#   client's side (libpq's keepalives_*) lets a process notice a vanished server.
# - tcp_user_timeout: the same for a connection with unacknowledged writes outstanding.
# - connect_timeout / statement_timeout: no call waits forever on an unreachable or wedged server; the
#   store's retries and the alerter's loop decide what happens next.
SESSION_TIMEZONE = "UTC"
KEEPALIVE_IDLE_S = 10
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_COUNT = 3
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 60_000


def postgres_session_args(url: str) -> dict[str, Any]:
    """Connection arguments for ``url``: the fencing and UTC parameters above on PostgreSQL, none elsewhere."""
    if not url.startswith("postgresql"):
        return {}
    user_timeout_ms = (KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT) * 1000
    server = (f"-c timezone={SESSION_TIMEZONE} -c statement_timeout={STATEMENT_TIMEOUT_MS} "
              f"-c tcp_keepalives_idle={KEEPALIVE_IDLE_S} -c tcp_keepalives_interval={KEEPALIVE_INTERVAL_S} "
              f"-c tcp_keepalives_count={KEEPALIVE_COUNT} -c tcp_user_timeout={user_timeout_ms}")
    return {"keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE_S, "keepalives_interval": KEEPALIVE_INTERVAL_S,
            "keepalives_count": KEEPALIVE_COUNT, "tcp_user_timeout": user_timeout_ms,
            "connect_timeout": CONNECT_TIMEOUT_S, "options": server}


def dialect_insert(engine: Engine) -> Callable[..., Any]:
    """``INSERT … ON CONFLICT`` needs the dialect's own insert construct (PostgreSQL or SQLite)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


class ScoreStore:
    """Writes scored tweets in bulk, idempotently, and never lets one bad row sink a batch.

    A lost connection (or another transient error) is retried with backoff; after ``max_attempts`` it
    raises :class:`StoreUnavailable` and the caller must not commit offsets. An error that retrying cannot
    fix (a value the database refuses) is narrowed down by splitting the batch in halves until the
    offending rows are alone: those come back as ``rejected`` for the dead-letter topic, the rest is stored.
    """

    def __init__(self, engine: Engine, *, max_attempts: int = 8,
                 sleep: Callable[[float], None] = time.sleep,
                 on_retry: Callable[[BaseException], None] = lambda exc: None, copy: bool = True) -> None:
        self.engine = engine
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._on_retry = on_retry
        self._insert = dialect_insert(engine)
        self._statements = _Statements(self._insert, engine.dialect.name)
        self._copy = engine.dialect.name == "postgresql" and copy

    def write(self, records: Sequence[ScoredTweet]) -> WriteResult:
        """Insert records not already stored; report the new rows, refused rows and conflicting duplicates."""
        result = WriteResult()
        first: dict[str, ScoredTweet] = {}
        for r in records:  # one id twice in a batch: the first is kept, a different text is a conflict
            kept = first.setdefault(r.tweet.id, r)
            if kept is not r and kept.tweet.text != r.tweet.text:
                result.conflicting.append(r)
        self._write_part(list(first.values()), result)
        return result

    def _write_part(self, records: Sequence[ScoredTweet], result: WriteResult) -> None:
        if not records:
            return
        try:
            self._retrying(records, result)
        except (DBAPIError, StatementError) as exc:
            if _transient(exc):
                raise
            if len(records) == 1:
                result.rejected.append((records[0], _reason(exc)))
                return
            mid = len(records) // 2
            self._write_part(records[:mid], result)
            self._write_part(records[mid:], result)

    def _retrying(self, records: Sequence[ScoredTweet], result: WriteResult) -> None:
        rows = [_row(r) for r in records]
        inserted, conflicting_ids = self._with_retries(lambda: self._write_rows(rows))
        result.inserted += inserted
        result.conflicting.extend(r for r in records if r.tweet.id in conflicting_ids)

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, retried with backoff (0.5 s doubling to 5 s: a recovered store is used within seconds)
        while the error is transient; :class:`StoreUnavailable` after ``max_attempts``. Any other database
        error is raised as it is."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            assert exc is not None
            self._on_retry(exc)
            log.error("store write failed (%s); retry %d in %.1fs", _reason(exc), state.attempt_number,
                      state.upcoming_sleep)

        retrying = Retrying(retry=retry_if_exception(_transient), stop=stop_after_attempt(self.max_attempts),
                            wait=wait_exponential(multiplier=0.5, max=5.0), sleep=self._sleep,
                            before_sleep=before_sleep, reraise=True)
        try:
            return retrying(attempt)
        except (DBAPIError, StatementError) as exc:
            if not _transient(exc):
                raise
            self._on_retry(exc)
            raise StoreUnavailable(f"store unreachable after {self.max_attempts} attempts: {_reason(exc)}") from exc

    def _write_rows(self, rows: list[dict[str, Any]]) -> tuple[int, set[str]]:
        """Insert new tweets; for exactly those, add topic memberships and minute counts, all in one transaction.

        Counting only the rows this statement inserted is what keeps rollups exact when a batch is replayed
        after a crash, or when two replicas race on the same tweet. Rows whose id was already stored with
        another text are returned as conflicting: same id, different tweet, cannot both be kept.
        """
        table = ScoredTweetRow.__table__
        by_id = {r["tweet_id"]: r for r in rows}
        with self.engine.begin() as conn:
            if self._copy:  # PostgreSQL: COPY, memberships in the same statement (services/storage/pg_copy.py)
                new_ids = copy_new_tweets(conn, rows)
            else:
                new_ids = [row[0] for row in conn.execute(self._statements.tweets, [_columns(r) for r in rows])]
                self._add_memberships(conn, [by_id[i] for i in new_ids])
            if new_ids:
                self._add_counts(conn, [by_id[i] for i in new_ids])
            conflicting: set[str] = set()
            if old := set(by_id) - set(new_ids):
                stored = conn.execute(select(table.c.tweet_id, table.c.text).where(table.c.tweet_id.in_(old)))
                conflicting = {tid for tid, text in stored if text != by_id[tid]["text"]}
        return len(new_ids), conflicting

    def _add_memberships(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        memberships = [{"tweet_id": r["tweet_id"], "topic": t} for r in rows for t in r["topics"]]
        if memberships:
            conn.execute(self._statements.memberships, memberships)

    def _add_counts(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        self._advance_progress(conn, rows)
        # an unscored tweet (a language no model serves) is kept but not counted: it is neither negative nor not
        counts = increments((r["topics"], r["created_at"], r["label"] == NEGATIVE) for r in rows
                            if r["unscored_reason"] is None)
        if counts:
            conn.execute(self._statements.minute_counts,
                         [{"topic": c.topic, "minute": c.minute, "n": c.n, "n_negative": c.n_negative} for c in counts])

    def _advance_progress(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        newest: dict[int, datetime] = {}
        for r in rows:
            p = r["source_partition"] if r["source_partition"] is not None else -1
            newest[p] = max(newest.get(p, r["created_at"]), r["created_at"])
        now = datetime.now(UTC)
        conn.execute(self._statements.progress,
                     [{"partition": p, "max_event_time": t, "updated_at": now} for p, t in newest.items()])

    def hold_partitions(self, partitions: Collection[int]) -> None:
        """Mark source partitions with unread tweets as active now, so they hold the alerter's watermark back.

        Why: a partition silent for a minute stops holding the watermark back (``AlertStore.event_time_progress``),
        which lets a quiet brand's minutes close. After a pause, though, the first partition scored would then
        close minutes that the other partitions' tweets, still unread in Kafka, belong to: a burst after a quiet
        night would be decided on a fraction of its tweets. A partition never seen before gets the epoch as its
        event time: nothing closes until its first tweets are stored.
        """
        now = datetime.now(UTC)
        rows = [{"partition": p, "max_event_time": EPOCH, "updated_at": now} for p in sorted(partitions)]

        def hold() -> None:
            with self.engine.begin() as conn:
                conn.execute(self._statements.hold, rows)

        try:
            self._with_retries(hold)
        except (DBAPIError, StatementError) as exc:  # not transient: the batch waits all the same
            raise StoreUnavailable(f"store refused the partitions' progress: {_reason(exc)}") from exc

    def forget(self, tweet_ids: Sequence[str]) -> int:
        """Delete tweets their authors deleted, with their copies in alerts (services/storage/personal_data.py); retried
        like a write, so a deletion read during an outage is applied once the database is back."""
        from badbuzz.services.storage.personal_data import forget_tweets

        done: list[int] = []

        def run() -> None:
            with self.engine.begin() as conn:
                done.append(forget_tweets(conn, tweet_ids))

        try:
            self._with_retries(run)
        except (DBAPIError, StatementError) as exc:
            raise StoreUnavailable(f"store refused a deletion: {_reason(exc)}") from exc
        return done[-1]

    def register_model(self, version: str, labels: list[str], details: dict[str, Any]) -> None:
        stmt = self._insert(ModelVersionRow.__table__).values(
            version=version, labels=labels, details=details
        ).on_conflict_do_nothing(index_elements=["version"])
        with self.engine.begin() as conn:
            conn.execute(stmt)


class _Statements:
    """The writer's statements, built once per store so that SQLAlchemy compiles each of them once.

    Each is executed with a list of rows; on conflict they keep what is stored (tweets, memberships) or merge
    into it (minute counts add up, a partition's event time only moves forward). Every value comes from the
    rows, ``updated_at`` included, since a value written into a statement built once would never change.
    """

    def __init__(self, insert: Callable[..., Any], dialect: str) -> None:
        tweets = ScoredTweetRow.__table__
        self.tweets = (insert(tweets).on_conflict_do_nothing(index_elements=["tweet_id"])
                       .returning(tweets.c.tweet_id))
        self.memberships = insert(TweetTopicRow.__table__).on_conflict_do_nothing(index_elements=["tweet_id", "topic"])
        minutes = TopicMinuteRow.__table__
        counts = insert(minutes)
        self.minute_counts = counts.on_conflict_do_update(index_elements=["topic", "minute"], set_={
            "n": minutes.c.n + counts.excluded.n, "n_negative": minutes.c.n_negative + counts.excluded.n_negative})
        progress = StreamProgressRow.__table__
        greatest = func.greatest if dialect == "postgresql" else func.max
        seen = insert(progress)
        self.progress = seen.on_conflict_do_update(index_elements=["partition"], set_={
            "max_event_time": greatest(progress.c.max_event_time, seen.excluded.max_event_time),
            "updated_at": seen.excluded.updated_at})
        self.hold = seen.on_conflict_do_update(index_elements=["partition"],
                                               set_={"updated_at": seen.excluded.updated_at})


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``scored_tweets``: topics live in their own table."""
    return {k: v for k, v in row.items() if k != "topics"}


def _row(r: ScoredTweet) -> dict[str, Any]:
    t = r.tweet
    return {
        "tweet_id": t.id,
        "text": t.text,
        "created_at": t.created_at,
        "user": t.user,
        "lang": t.lang,
        "topics": list(t.topics),
        "label": r.label,
        "p_negative": float(r.p_negative) if r.scored else None,
        "probabilities": {k: float(v) for k, v in r.probabilities.items()},
        "model_version": r.model_version,
        "scored_at": r.scored_at,
        "source_partition": r.origin.partition if r.origin else None,
        "source_offset": r.origin.offset if r.origin else None,
        "emotions": {k: float(v) for k, v in r.emotions.items()} if r.emotions is not None else None,
        "unscored_reason": r.unscored_reason,
    }


def _transient(exc: BaseException) -> bool:
    """Errors a retry can fix: the connection, the server, a deadlock or a timeout, not the data."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, OperationalError | InterfaceError)
    return False


UNREACHABLE = ("connection refused", "could not connect", "shutting down", "starting up", "timeout expired",
               "no route to host", "not yet accepting", "connection timed out", "is not yet accepting",
               "could not translate host name", "server closed the connection")


def _unreachable(exc: OperationalError) -> bool:
    """The server is not there (yet): down, restarting, starting, or the network between; not a refusal."""
    text_ = str(exc.orig or exc).lower()
    return any(marker in text_ for marker in UNREACHABLE) and "password" not in text_


def _reason(exc: BaseException) -> str:
    """The database's own words, without the statement and its parameters (they may hold the whole batch)."""
    orig = getattr(exc, "orig", None) or exc.__cause__ or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"[:300]
