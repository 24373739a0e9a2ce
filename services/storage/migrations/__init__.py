"""Schema migrations (Alembic): every service brings its database to the newest revision when it starts.

Why Alembic rather than ``create_all``: ``create_all`` only ever adds missing tables, so renaming a column,
adding an index or changing a type on a database with months of data needs a real, ordered, tested
migration. The revisions live in ``versions/`` and ship inside the package; ``badbuzz db upgrade`` runs them
as a one-shot job (a Kubernetes Job, a deploy step), and ``make_engine`` runs them at every start under a
PostgreSQL advisory lock, so replicas starting together do not race.

A database made by a badbuzz from before migrations (tables, no ``alembic_version``) is adopted: it is
completed to the first revision's schema (missing tables and nullable columns added), stamped with it,
then upgraded like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, text

HERE = Path(__file__).resolve().parent
FIRST = "0001"


def config(conn: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    return str(ScriptDirectory(str(HERE)).get_current_head())


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection, target: str = "head") -> list[str]:
    """Bring the database on ``conn`` to ``target``; returns what was done, for the log."""
    done = []
    if current(conn) is None and _has_legacy_tables(conn):
        from badbuzz.services.storage.migrations.versions import v0001_initial

        added = add_missing(conn, v0001_initial.schema())
        command.stamp(config(conn), FIRST)
        done.append(f"adopted a database made before migrations (added {', '.join(added) or 'nothing'})")
    before = current(conn)
    command.upgrade(config(conn), target)
    after = current(conn)
    if after != before:
        done.append(f"migrated {before or 'empty'} -> {after}")
    return done


def _has_legacy_tables(conn: Connection) -> bool:
    return inspect(conn).has_table("scored_tweets") or inspect(conn).has_table("alerts")


def add_missing(conn: Connection, metadata: MetaData) -> list[str]:
    """Create ``metadata``'s missing tables and add its missing nullable columns to existing ones (what an
    older badbuzz's ``create_all`` would not have done). Additive only."""
    added = []
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            table.create(conn)
            added.append(table.name)
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable or column.primary_key:
                continue
            ddl = column.type.compile(dialect=conn.dialect)
            prep = conn.dialect.identifier_preparer
            conn.execute(text(f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {prep.quote(column.name)} {ddl}"))
            added.append(f"{table.name}.{column.name}")
    return added


def register(sub: Any) -> None:
    """``badbuzz db``: the schema's migrations and the retention job, one-shot."""
    db = sub.add_parser("db", help="the database: migrations and retention (BADBUZZ_DATABASE_URL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate the schema to this version's newest revision (services do it at start)")
    db_sub.add_parser("current", help="print the schema's revision and this version's newest one")
    db_sub.add_parser("retention", help="delete tweets, rollups and alerts older than the retention settings, once")
    db.set_defaults(run=run_db_command)


def run_db_command(args: Any, settings: Any) -> int:
    import json
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from badbuzz.services.storage.retention import apply_retention
    from badbuzz.services.storage.scores import make_engine, postgres_session_args

    if args.db_command == "current":
        url = settings.resolved_database_url
        engine = create_engine(url, hide_parameters=True, connect_args=postgres_session_args(url))
        with engine.connect() as conn:
            print(f"database: {current(conn) or 'none (empty, or made before migrations)'}; this badbuzz: {head()}")
        return 0
    engine = make_engine(settings.resolved_database_url)  # migrates (under the advisory lock)
    if args.db_command == "upgrade":
        with engine.connect() as conn:
            print(f"database schema at {current(conn)}")
        return 0
    deleted = apply_retention(engine, settings.retention_policy(), datetime.now(UTC))
    print(json.dumps(deleted))
    return 0
