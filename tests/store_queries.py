"""What the tests read back from a store, which the services themselves never need to ask."""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from badbuzz.services.storage.tables import AlertRow, OutboxRow, ScoredTweetRow


def stored_tweets(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ScoredTweetRow)).scalar_one())


def all_alerts(engine: Engine) -> list[AlertRow]:
    with Session(engine) as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.fired_at)))


def failed_deliveries(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow)
                                .where(OutboxRow.failed_at.is_not(None))).scalar_one())
