"""What the API reads and writes, in SQL: topic status, timelines, alerts and their acknowledgements.

The tables are the ones the scorer and the alerter maintain (services/storage/tables.py); nothing here is cached,
so two API replicas behind a load balancer answer the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, or_, select, text
from sqlalchemy.orm import Session

from badbuzz.services.alerting.store import as_utc
from badbuzz.services.storage.tables import AlertAckRow, AlertRow, DetectorStateRow, OutboxRow, TopicMinuteRow
from badbuzz.stream.detection.detector import Detector, DetectorConfig, TopicState

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Bucket:
    start: datetime
    tweets: int
    negatives: int

    @property
    def share(self) -> float | None:
        return self.negatives / self.tweets if self.tweets else None


def topic_names(engine: Engine) -> list[str]:
    """Every topic with rollups or a detector state. The rollups are read by a loose index scan (one probe of
    the primary key per topic, AlertStore.topics_query), never ``SELECT DISTINCT`` over a year of minutes:
    the live page asks this every 3 s per open tab."""
    from badbuzz.services.alerting.store import AlertStore

    with engine.connect() as conn:
        rows = conn.execute(text(AlertStore.topics_query())).scalars().all()
        states = conn.execute(select(DetectorStateRow.topic)).scalars().all()
    return sorted(set(rows) | set(states))


def topic_statuses(engine: Engine, config: DetectorConfig, topics: list[str]) -> list[dict[str, Any]]:
    """Each topic's last minute and last hour with data, its learned baseline, and its alert state. Detector
    states and firing alerts are read once for all topics; the counts are two range reads of the rollups'
    primary key (topic, minute) per topic."""
    with engine.connect() as conn:
        states: dict[str, Any] = dict(conn.execute(select(DetectorStateRow.topic, DetectorStateRow.state)
                                   .where(DetectorStateRow.topic.in_(topics))).all())
        firing: dict[str, str] = {}
        for alert_id, t in conn.execute(select(AlertRow.id, AlertRow.topic)
                                        .where(AlertRow.state == "firing", AlertRow.topic.in_(topics))
                                        .order_by(AlertRow.fired_at)):
            firing[t] = alert_id  # the newest wins
        out = []
        for topic in topics:
            newest = conn.execute(select(func.max(TopicMinuteRow.minute))
                                  .where(TopicMinuteRow.topic == topic)).scalar()
            state_doc = states.get(topic)
            if newest is None and state_doc is None:
                continue
            last_minute = last_hour = Bucket(as_utc(newest) if newest else datetime.min, 0, 0)
            if newest is not None:
                newest = as_utc(newest)
                hour = newest - timedelta(minutes=59)
                rows = [(as_utc(m), int(n), int(k)) for m, n, k in conn.execute(
                    select(TopicMinuteRow.minute, TopicMinuteRow.n, TopicMinuteRow.n_negative)
                    .where(TopicMinuteRow.topic == topic, TopicMinuteRow.minute >= hour))]
                last_minute = Bucket(newest, sum(n for m, n, _ in rows if m == newest),
                                     sum(k for m, _, k in rows if m == newest))
                last_hour = Bucket(hour, sum(n for _, n, _ in rows), sum(k for _, _, k in rows))
            out.append(_status(config, topic, state_doc, newest, last_minute, last_hour, firing.get(topic)))
    return out


def _status(config: DetectorConfig, topic: str, state_doc: Any, newest: datetime | None, last_minute: Bucket,
            last_hour: Bucket, firing: str | None) -> dict[str, Any]:
    detector = Detector(topic, config, TopicState.from_json(state_doc) if state_doc else None)
    return {
        "topic": topic,
        "last_minute": {"minute": last_minute.start if newest else None, "tweets": last_minute.tweets,
                        "negatives": last_minute.negatives, "negative_share": last_minute.share},
        "last_hour": {"tweets": last_hour.tweets, "negatives": last_hour.negatives,
                      "negative_share": last_hour.share},
        "baseline_share": detector.baseline,
        "status": detector.state.status,
        "alert_id": firing,
        "evaluated_through": detector.state.last_minute,
    }


def timeline(engine: Engine, topic: str, start: datetime, end: datetime, step_minutes: int) -> list[Bucket]:
    """Tweets and negatives per ``step_minutes`` bucket in [start, end); empty buckets included."""
    with engine.connect() as conn:
        rows = conn.execute(select(TopicMinuteRow.minute, TopicMinuteRow.n, TopicMinuteRow.n_negative)
                            .where(TopicMinuteRow.topic == topic, TopicMinuteRow.minute >= start,
                                   TopicMinuteRow.minute < end)).all()
    step = step_minutes * MINUTE
    n_buckets = max(0, -(-int((end - start) / MINUTE) // step_minutes))
    counts = [[0, 0] for _ in range(n_buckets)]
    for minute, n, k in rows:
        i = int((as_utc(minute) - start) / step)
        if 0 <= i < n_buckets:
            counts[i][0] += int(n)
            counts[i][1] += int(k)
    return [Bucket(start + i * step, n, k) for i, (n, k) in enumerate(counts)]


def alert_rows(engine: Engine, *, topic: str | None = None, state: str | None = None,
               since: datetime | None = None, until: datetime | None = None, limit: int = 50,
               offset: int = 0) -> tuple[list[AlertRow], int]:
    """(one page of alerts, newest first; how many match in all)."""
    where = []
    if topic is not None:
        where.append(AlertRow.topic == topic)
    if state is not None:
        where.append(AlertRow.state == state)
    if since is not None:
        where.append(or_(AlertRow.resolved_at.is_(None), AlertRow.resolved_at >= since))
    if until is not None:
        where.append(AlertRow.fired_at < until)
    with Session(engine) as session:
        total = session.execute(select(func.count()).select_from(AlertRow).where(*where)).scalar_one()
        page = session.scalars(select(AlertRow).where(*where).order_by(AlertRow.fired_at.desc(), AlertRow.id)
                               .limit(limit).offset(offset)).all()
        session.expunge_all()
    return list(page), int(total)


def alert_row(engine: Engine, alert_id: str) -> tuple[AlertRow, list[AlertAckRow]] | None:
    with Session(engine) as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            return None
        session.expunge_all()
    return row, acks_for(engine, [alert_id]).get(alert_id, [])


def acks_for(engine: Engine, alert_ids: list[str]) -> dict[str, list[AlertAckRow]]:
    """The acknowledgements of several alerts in one query, oldest first, by alert id."""
    found: dict[str, list[AlertAckRow]] = {}
    if not alert_ids:
        return found
    with Session(engine) as session:
        for ack in session.scalars(select(AlertAckRow).where(AlertAckRow.alert_id.in_(alert_ids))
                                   .order_by(AlertAckRow.acked_at, AlertAckRow.id)):
            found.setdefault(ack.alert_id, []).append(ack)
        session.expunge_all()
    return found


def acknowledge(engine: Engine, alert_id: str, who: str, note: str, key_name: str, now: datetime) -> bool:
    """Record an acknowledgement; False when there is no such alert."""
    with engine.begin() as conn:
        if conn.execute(select(AlertRow.id).where(AlertRow.id == alert_id)).scalar() is None:
            return False
        conn.execute(insert(AlertAckRow).values(alert_id=alert_id, who=who, note=note, key_name=key_name,
                                                acked_at=now))
    return True


def deliveries(engine: Engine, alert_id: str) -> list[dict[str, Any]]:
    """Each channel's delivery of the alert's transitions (firing, resolved): pending, delivered or failed.
    Channels are named as in logs (a webhook by its host only: its path is a credential)."""
    from badbuzz.services.alerting.channels import redact

    o = OutboxRow
    stmt = (select(o.idempotency_key, o.destination, o.attempts, o.delivered_at, o.failed_at, o.last_error)
            .where(o.idempotency_key.startswith(f"{alert_id}:", autoescape=True)).order_by(o.id))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [{"transition": key[len(alert_id) + 1:].split(":", 1)[0], "channel": redact(dest), "attempts": attempts,
             "state": "delivered" if delivered else "failed" if failed else "pending",
             "delivered_at": as_utc(delivered) if delivered else None, "failed_at": as_utc(failed) if failed else None,
             "last_error": error}
            for key, dest, attempts, delivered, failed, error in rows]
