"""Reads and writes for the alerter: rollups in, detector state and alert lifecycle out, delivery outbox.

An alert's row, its detector state and one delivery per channel (Redis, webhooks, console, file; see
channels.py) are written in one transaction, so a crash can neither lose a delivery nor send one for an
alert that was never recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, text, update

from badbuzz.services.storage.scores import dialect_insert
from badbuzz.services.storage.tables import (
    AlerterTermRow,
    AlertRow,
    DetectorStateRow,
    OutboxRow,
    ScoredTweetRow,
    StreamProgressRow,
    TopicMinuteRow,
    TweetTopicRow,
)
from badbuzz.stream.detection.detector import TopicState
from badbuzz.stream.detection.event import AlertEvent

if TYPE_CHECKING:
    from badbuzz.services.alerting.channels import AlertChannel


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = dialect_insert(engine)

    # ------------------------------------------------------------------ inputs
    def event_time_progress(self, now: datetime, idle_after: timedelta) -> datetime | None:
        """How far event time has got on *every* active partition (the slowest one's newest tweet).

        Partitions are consumed at different paces; taking the global newest tweet would close minutes that
        a lagging partition still has tweets for. A partition silent for ``idle_after`` (wall time) stops
        holding the others back.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(select(StreamProgressRow.max_event_time, StreamProgressRow.updated_at)).all()
        if not rows:
            return None
        active = [as_utc(t) for t, u in rows if as_utc(u) >= now - idle_after]
        return min(active) if active else max(as_utc(t) for t, _ in rows)

    def topics(self) -> list[str]:
        """Every topic with rollups, found by hopping along the primary key's index (a loose index scan: one
        index probe per topic) instead of ``SELECT DISTINCT`` over every minute of every topic."""
        with self.engine.connect() as conn:
            return [str(t) for t in conn.execute(text(self.topics_query())).scalars()]

    @staticmethod
    def topics_query() -> str:
        return ("WITH RECURSIVE t(topic) AS ("
                " SELECT min(topic) FROM topic_minute_rollups"
                " UNION ALL"
                " SELECT (SELECT min(r.topic) FROM topic_minute_rollups r WHERE r.topic > t.topic)"
                " FROM t WHERE t.topic IS NOT NULL"
                ") SELECT topic FROM t WHERE topic IS NOT NULL")

    def first_minute(self, topic: str, since: datetime | None = None) -> datetime | None:
        """The topic's first minute with tweets (at or after ``since`` when given), from the primary key."""
        where = [TopicMinuteRow.topic == topic]
        if since is not None:
            where.append(TopicMinuteRow.minute >= since)
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(TopicMinuteRow.minute)).where(*where)).scalar_one_or_none()

    def rollups(self, topic: str, start: datetime, end: datetime) -> dict[datetime, tuple[int, int]]:
        """(n, n_negative) per minute in ``[start, end)`` for ``topic``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(TopicMinuteRow.minute, TopicMinuteRow.n, TopicMinuteRow.n_negative).where(
                    TopicMinuteRow.topic == topic, TopicMinuteRow.minute >= start, TopicMinuteRow.minute < end
                )
            ).all()
        return {as_utc(m): (int(n), int(k)) for m, n, k in rows}

    def texts(self, topic: str, start: datetime, end: datetime, *, negative_only: bool,
              limit: int = 2000) -> list[tuple[str, str, float, str | None]]:
        """(tweet id, text, p_negative, language) of a topic's scored tweets in an event-time range: the
        negatives most negative first (the examples an alert shows); all tweets newest first (the baseline an
        explanation compares with must not be skewed towards negative tweets by the limit)."""
        t, m = ScoredTweetRow, TweetTopicRow
        cond = [m.topic == topic, t.created_at >= start, t.created_at < end, t.p_negative.is_not(None)]
        if negative_only:
            cond.append(t.label == "negative")
        stmt = (select(t.tweet_id, t.text, t.p_negative, t.lang).join(m, m.tweet_id == t.tweet_id)
                .where(and_(*cond))
                .order_by(t.p_negative.desc() if negative_only else t.created_at.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [(str(a), str(b), float(c or 0.0), d) for a, b, c, d in conn.execute(stmt)]

    def negative_profile(self, topic: str, start: datetime, end: datetime,
                         limit: int = 2000) -> list[tuple[str | None, dict[str, float] | None]]:
        """(language, emotion probabilities or None) of a topic's negative tweets in an event-time range: the
        alert's language mix, and how many of its negatives the mood line speaks for."""
        t, m = ScoredTweetRow, TweetTopicRow
        stmt = (select(t.lang, t.emotions).join(m, m.tweet_id == t.tweet_id)
                .where(and_(m.topic == topic, t.created_at >= start, t.created_at < end, t.label == "negative"))
                .limit(limit))
        with self.engine.connect() as conn:
            return [(lang, dict(e) if isinstance(e, dict) else None) for lang, e in conn.execute(stmt)]

    # ------------------------------------------------------------------ detector state
    def load_states(self) -> dict[str, TopicState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(DetectorStateRow.topic, DetectorStateRow.state)).all()
        return {topic: TopicState.from_json(state) for topic, state in rows}

    def save_state(self, topic: str, state: TopicState, now: datetime, events: Sequence[AlertEvent] = (),
                   channels: Sequence[AlertChannel] = (), unpaged: Mapping[str, str] | None = None) -> None:
        """Persist a topic's state together with any alert transitions and one delivery per channel; a
        transition in ``unpaged`` (idempotency key → reason) is recorded with its reason and queued nowhere."""
        unpaged = unpaged or {}
        with self.engine.begin() as conn:
            stmt = self._insert(DetectorStateRow.__table__).values(topic=topic, state=state.to_json(), updated_at=now)
            conn.execute(stmt.on_conflict_do_update(index_elements=["topic"],
                                                    set_={"state": stmt.excluded.state, "updated_at": now}))
            for ev in events:
                conn.execute(self._alert_upsert(ev, now, unpaged.get(ev.idempotency_key)))
                if ev.idempotency_key in unpaged:
                    continue
                for channel in channels:
                    where = channel.destination
                    outbox = self._insert(OutboxRow.__table__).values(
                        idempotency_key=f"{ev.idempotency_key}:{uuid.uuid5(uuid.NAMESPACE_URL, where)}",
                        destination=where, payload=channel.render(ev), attempts=0, next_attempt_at=now, created_at=now,
                    )
                    conn.execute(outbox.on_conflict_do_nothing(index_elements=["idempotency_key"]))

    def _alert_upsert(self, ev: AlertEvent, now: datetime, unpaged_reason: str | None = None) -> Any:
        values = dict(id=ev.alert_id, topic=ev.topic, state=ev.state, fired_at=ev.fired_at, resolved_at=ev.resolved_at,
                      window_start=ev.window_start, window_end=ev.window_end, negative_rate=ev.negative_rate,
                      baseline_rate=ev.baseline_rate, volume=ev.volume, p_value=ev.p_value,
                      top_terms=[list(t) for t in ev.top_terms], examples=ev.examples,
                      emotions=ev.emotions or None, signal=ev.signal, scale_minutes=ev.scale_minutes,
                      expected_negatives=ev.expected_negatives, languages=ev.languages or None,
                      emotion_coverage=ev.emotion_coverage, unpaged_reason=unpaged_reason, severity=ev.severity,
                      history_minutes=ev.history_minutes, baseline_note=ev.baseline_note[:300] or None,
                      updated_at=now)
        stmt = self._insert(AlertRow.__table__).values(**values)
        if ev.state == "resolved":
            return stmt.on_conflict_do_update(index_elements=["id"], set_={
                "state": "resolved", "resolved_at": ev.resolved_at, "updated_at": now})
        return stmt.on_conflict_do_nothing(index_elements=["id"])

    def open_alert(self, topic: str) -> tuple[str, datetime] | None:
        """(id, fired_at) of the topic's alert still firing, if any: a restarted alerter resolves it."""
        stmt = (select(AlertRow.id, AlertRow.fired_at).where(AlertRow.topic == topic, AlertRow.state == "firing")
                .order_by(AlertRow.fired_at.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return (str(row[0]), as_utc(row[1])) if row else None

    # ------------------------------------------------------------------ delivery outbox
    def pending_for(self, destination: str, limit: int = 50) -> list[tuple[int, str, str, int, datetime, datetime]]:
        """(id, payload, idempotency key, attempts, next attempt, created) of ``destination``'s rows still to
        deliver (neither delivered nor given up), oldest first. Rows of a destination no longer configured
        stay in the table (an endpoint removed from the settings gets nothing more) until retention."""
        o = OutboxRow
        stmt = (select(o.id, o.payload, o.idempotency_key, o.attempts, o.next_attempt_at, o.created_at)
                .where(o.delivered_at.is_(None), o.failed_at.is_(None), o.destination == destination)
                .order_by(o.id).limit(limit))
        with self.engine.connect() as conn:
            return [(int(a), str(b), str(c), int(d), as_utc(e), as_utc(f)) for a, b, c, d, e, f in conn.execute(stmt)]

    @contextmanager
    def claim(self, outbox_id: int, term: int | None) -> Iterator[Claim | None]:
        """Claim one outbox row for the length of its send, in one transaction: ``None`` when the row is
        already delivered, given up, or being sent by another alerter (``FOR UPDATE SKIP LOCKED``), or when
        ``term`` is no longer the leadership term (``FOR SHARE``: the next leader waits for this send before
        its term begins). ``term=None`` skips the term check (SQLite: one process, nothing to fence)."""
        with self.engine.begin() as conn:
            if term is not None:
                current = conn.execute(select(AlerterTermRow.term).where(AlerterTermRow.id == 1)
                                       .with_for_update(read=True)).scalar_one_or_none()
                if current != term:
                    yield None
                    return
            o = OutboxRow
            row = conn.execute(select(o.id).where(o.id == outbox_id, o.delivered_at.is_(None), o.failed_at.is_(None))
                               .with_for_update(skip_locked=True)).scalar_one_or_none()
            yield Claim(conn, outbox_id, term) if row is not None else None

    def pending_deliveries(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(OutboxRow).where(
                OutboxRow.delivered_at.is_(None), OutboxRow.failed_at.is_(None))).scalar_one())

    def purge_delivered(self, before: datetime) -> int:
        """Delete rows delivered before ``before`` (their alert stays in ``alerts``); returns how many."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(OutboxRow).where(OutboxRow.delivered_at < before)).rowcount or 0)


class Claim:
    """A claimed outbox row: its outcome is written in the transaction that holds the claim."""

    def __init__(self, conn: Connection, outbox_id: int, term: int | None) -> None:
        self.conn, self.outbox_id, self.term = conn, outbox_id, term

    def delivered(self, now: datetime) -> None:
        self.conn.execute(update(OutboxRow).where(OutboxRow.id == self.outbox_id).values(
            delivered_at=now, attempts=OutboxRow.attempts + 1, last_error=None, claimed_term=self.term))

    def failed(self, now: datetime, retry_in: timedelta, error: str, *, give_up: bool = False) -> None:
        self.conn.execute(update(OutboxRow).where(OutboxRow.id == self.outbox_id).values(
            attempts=OutboxRow.attempts + 1, next_attempt_at=now + retry_in, last_error=error[:500],
            failed_at=now if give_up else None, claimed_term=self.term))


def as_utc(ts: datetime) -> datetime:
    """``ts`` in UTC. SQLite hands back naive datetimes for timezone-aware columns (they were stored in UTC);
    an aware one in another zone (a PostgreSQL session not in UTC) is converted, not relabelled."""
    from datetime import UTC

    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
