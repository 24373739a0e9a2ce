"""Alembic's environment: always run on a connection the caller opened (``config.attributes["connection"]``),
inside the caller's transaction and advisory lock (see ``badbuzz.services.storage.migrations.upgrade``)."""

from __future__ import annotations

from alembic import context

from badbuzz.services.storage.tables import Base

connection = context.config.attributes["connection"]
# render_as_batch: SQLite (embedded mode) can only alter a table by copying it; Alembic's batch mode does that
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
