"""Exactly one active alerter: a PostgreSQL session advisory lock, held on a connection of its own.

Alerting decisions must be taken once, but a deployment wants a standby ready to take over. Every alerter
calls :meth:`Leadership.hold` each iteration: the one holding the lock proves its connection still works
(``SELECT 1``) and acts; the others try to take the lock and wait. When the leader dies, its connection
closes, PostgreSQL releases the lock, and a standby takes it on its next try (within ``poll`` seconds). A
leader whose connection breaks stops acting at once. SQLite (embedded mode: one process) always leads.

A leader whose machine vanishes keeps its session until TCP gives up: the keepalives and timeouts of
``storage.postgres_session_args`` bound that to about 25 s (the kernel's defaults: two hours). Between the
new leader taking over and the old one noticing, both may act: detection is harmless twice (deterministic
alert ids, idempotent outbox rows) but a webhook is not. So leadership is *fenced*: taking the lock
increments the term in ``alerter_term``, and every delivery, in the transaction that sends it, checks that
term (``FOR SHARE``) and claims its outbox row (``FOR UPDATE SKIP LOCKED``; see store.claim). A deposed
leader's term is stale, so it sends nothing; and the new leader cannot bump the term while an old delivery
still holds it, so no two sends overlap.

Advisory locks belong to a session: behind PgBouncer in *transaction* pooling they are released, or held by
whichever client shares the server connection next. Point the alerter at PostgreSQL directly or through a
session-pooling pool (docs/deployment.md).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from badbuzz.services.storage.scores import dialect_insert
from badbuzz.services.storage.tables import AlerterTermRow

log = logging.getLogger(__name__)
ALERTER_LOCK = 0x6261646275 + 1  # next to the schema lock: "badbu" + 1


class Leadership:
    def __init__(self, engine: Engine, key: int = ALERTER_LOCK) -> None:
        self.engine = engine
        self.key = key
        self.is_leader = engine.dialect.name != "postgresql"
        self.term: int | None = None  # the term this process leads in (None: never led, or not fenced: SQLite)
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._conn: Connection | None = None

    def hold(self) -> bool:
        """True while this process is the leader (taking the lock when it is free)."""
        if self.engine.dialect.name != "postgresql":
            return True
        try:
            if self._conn is None:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self.is_leader:
                self._conn.execute(text("SELECT 1"))
                return True
            got = self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
            if got:
                self.term = self._next_term(self._conn)
                log.info("this alerter now leads (advisory lock %d, term %d)", self.key, self.term)
            self.is_leader = bool(got)
        except Exception as exc:
            if self.is_leader:
                log.error("lost the alerter lock's connection; standing down: %s", exc)
            self.release()
        return self.is_leader

    def _next_term(self, conn: Connection) -> int:
        """Increment and return the leadership term (waits for a deposed leader's delivery in flight)."""
        t = AlerterTermRow.__table__
        stmt = dialect_insert(self.engine)(t).values(id=1, term=1, holder=self.holder, updated_at=datetime.now(UTC))
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={
            "term": t.c.term + 1, "holder": stmt.excluded.holder, "updated_at": stmt.excluded.updated_at})
        return int(conn.execute(stmt.returning(t.c.term)).scalar_one())

    def release(self) -> None:
        self.is_leader = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # close the socket: PostgreSQL drops the lock with the session
            except Exception:
                pass
