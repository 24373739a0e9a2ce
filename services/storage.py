"""SQLAlchemy models and the idempotent bulk writer for scored tweets.

One row per tweet with the tweet id as primary key, written with ``INSERT … ON CONFLICT DO NOTHING`` in
multi-row statements: a batch replayed after a crash cannot duplicate a row. PostgreSQL in server mode,
SQLite in embedded mode, through the same models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from badbuzz.stream.contracts import ScoredTweet
from badbuzz.stream.errors import StoreUnavailable

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class ScoredTweetRow(Base):
    __tablename__ = "scored_tweets"

    tweet_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user: Mapped[str | None] = mapped_column(String(256))
    lang: Mapped[str | None] = mapped_column(String(16))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    label: Mapped[str] = mapped_column(String(32))
    p_negative: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, float]] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(String(128))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_partition: Mapped[int | None] = mapped_column(Integer)
    source_offset: Mapped[int | None] = mapped_column(BigInteger)


class ModelVersionRow(Base):
    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(128), primary_key=True)
    labels: Mapped[list[str]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def make_engine(url: str) -> Engine:
    """An engine with the schema in place (``create_all`` is idempotent)."""
    engine = create_engine(url, pool_pre_ping=True, future=True)
    Base.metadata.create_all(engine)
    return engine


def _insert(engine: Engine) -> Callable[..., Any]:
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


class ScoreStore:
    """Writes scored tweets in bulk, idempotently; retries a lost connection with backoff.

    After ``max_attempts`` it raises :class:`StoreUnavailable`: the caller must not commit offsets.
    """

    def __init__(self, engine: Engine, *, chunk_rows: int = 500, max_attempts: int = 8,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.chunk_rows = chunk_rows
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._insert = _insert(engine)

    def write(self, records: Sequence[ScoredTweet]) -> int:
        """Insert records not already stored; returns how many rows were new."""
        rows = [_row(r) for r in records]
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._write_rows(rows)
            except OperationalError as exc:
                if attempt == self.max_attempts:
                    raise StoreUnavailable(f"store unreachable after {attempt} attempts: {exc.orig}") from exc
                delay = min(30.0, 0.5 * 2 ** (attempt - 1))
                log.error("store write failed (%s); retry %d in %.1fs", exc.orig, attempt, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _write_rows(self, rows: list[dict[str, Any]]) -> int:
        inserted = 0
        table = ScoredTweetRow.__table__
        with self.engine.begin() as conn:
            for i in range(0, len(rows), self.chunk_rows):
                stmt = (
                    self._insert(table)
                    .values(rows[i : i + self.chunk_rows])
                    .on_conflict_do_nothing(index_elements=["tweet_id"])
                    .returning(table.c.tweet_id)
                )
                inserted += len(conn.execute(stmt).fetchall())
        return inserted

    def register_model(self, version: str, labels: list[str], details: dict[str, Any]) -> None:
        stmt = self._insert(ModelVersionRow.__table__).values(
            version=version, labels=labels, details=details
        ).on_conflict_do_nothing(index_elements=["version"])
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ScoredTweetRow)).scalar_one())


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
        "p_negative": float(r.p_negative),
        "probabilities": {k: float(v) for k, v in r.probabilities.items()},
        "model_version": r.model_version,
        "scored_at": r.scored_at,
        "source_partition": r.origin.partition if r.origin else None,
        "source_offset": r.origin.offset if r.origin else None,
    }
