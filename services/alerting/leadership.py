"""Exactly one active alerter: a PostgreSQL session advisory lock, held on a connection of its own.

Alerting decisions must be taken once, but a deployment wants a standby ready to take over. Every alerter
calls :meth:`Leadership.hold` each iteration: the one holding the lock proves its connection still works
(``SELECT 1``) and acts; the others try to take the lock and wait. When the leader dies, its connection
closes, PostgreSQL releases the lock, and a standby takes it on its next try (within ``poll`` seconds). A
leader whose connection breaks stops acting at once. Deterministic alert ids and idempotent outbox rows
make the short overlap of a network partition harmless. SQLite (embedded mode: one process) always leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)
ALERTER_LOCK = 0x6261646275 + 1  # next to the schema lock: "badbu" + 1


class Leadership:
    def __init__(self, engine: Engine, key: int = ALERTER_LOCK) -> None:
        self.engine = engine
        self.key = key
        self.is_leader = engine.dialect.name != "postgresql"
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
                log.info("this alerter now leads (advisory lock %d)", self.key)
            self.is_leader = bool(got)
        except Exception as exc:
            if self.is_leader:
                log.error("lost the alerter lock's connection; standing down: %s", exc)
            self.release()
        return self.is_leader

    def release(self) -> None:
        self.is_leader = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # close the socket: PostgreSQL drops the lock with the session
            except Exception:
                pass
