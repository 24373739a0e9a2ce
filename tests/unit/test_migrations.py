"""Schema migrations and the retention job on SQLite (embedded mode); the same scenarios run on the real
PostgreSQL in tests/integration/test_migrations_pg.py."""

from __future__ import annotations

from pathlib import Path

from tests import migration_cases as cases


def test_empty_database_upgrades_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    cases.empty_database_upgrades_downgrades_and_upgrades_again(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_database_made_before_migrations_is_adopted_with_its_data(tmp_path: Path) -> None:
    cases.database_made_before_migrations_is_adopted_with_its_data(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_retention_keeps_rollups_and_recent_data(tmp_path: Path) -> None:
    cases.retention_keeps_rollups_and_recent_data(f"sqlite:///{tmp_path / 'db.sqlite'}")
