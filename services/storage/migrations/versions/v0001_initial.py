"""The schema as badbuzz created it with ``create_all`` before migrations existed (frozen here: later
revisions change it, this file never does).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def schema() -> sa.MetaData:
    """The tables of revision 0001 (also used to adopt a database made before migrations)."""
    m = sa.MetaData()
    sa.Table("alert_acks", m,
             sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
             sa.Column("alert_id", sa.String(128), nullable=False, index=True),
             sa.Column("who", sa.String(200), nullable=False),
             sa.Column("note", sa.Text(), nullable=False),
             sa.Column("key_name", sa.String(100), nullable=False),
             sa.Column("acked_at", sa.DateTime(timezone=True), nullable=False))
    sa.Table("alerts", m,
             sa.Column("id", sa.String(128), primary_key=True),
             sa.Column("topic", sa.String(64), nullable=False, index=True),
             sa.Column("state", sa.String(16), nullable=False),
             sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
             sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
             sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
             sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
             sa.Column("negative_rate", sa.Float(), nullable=False),
             sa.Column("baseline_rate", sa.Float(), nullable=False),
             sa.Column("volume", sa.Integer(), nullable=False),
             sa.Column("p_value", sa.Float(), nullable=False),
             sa.Column("top_terms", sa.JSON(), nullable=False),
             sa.Column("examples", sa.JSON(), nullable=False),
             sa.Column("emotions", sa.JSON(none_as_null=True), nullable=True),
             sa.Column("signal", sa.String(16), nullable=True),
             sa.Column("scale_minutes", sa.Integer(), nullable=True),
             sa.Column("expected_negatives", sa.Float(), nullable=True),
             sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    sa.Table("detector_state", m,
             sa.Column("topic", sa.String(64), primary_key=True),
             sa.Column("state", sa.JSON(), nullable=False),
             sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    sa.Table("model_versions", m,
             sa.Column("version", sa.String(128), primary_key=True),
             sa.Column("labels", sa.JSON(), nullable=False),
             sa.Column("details", sa.JSON(), nullable=False),
             sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False))
    sa.Table("scored_tweets", m,
             sa.Column("tweet_id", sa.String(64), primary_key=True),
             sa.Column("text", sa.Text(), nullable=False),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
             sa.Column("user", sa.String(256), nullable=True),
             sa.Column("lang", sa.String(16), nullable=True),
             sa.Column("topics", sa.JSON(), nullable=False),
             sa.Column("label", sa.String(32), nullable=False),
             sa.Column("p_negative", sa.Float(), nullable=False),
             sa.Column("probabilities", sa.JSON(), nullable=False),
             sa.Column("model_version", sa.String(128), nullable=False),
             sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
             sa.Column("source_partition", sa.Integer(), nullable=True),
             sa.Column("source_offset", sa.BigInteger(), nullable=True),
             sa.Column("emotions", sa.JSON(none_as_null=True), nullable=True))
    sa.Table("stream_progress", m,
             sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
             sa.Column("max_event_time", sa.DateTime(timezone=True), nullable=False),
             sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False))
    sa.Table("topic_minute_rollups", m,
             sa.Column("topic", sa.String(64), primary_key=True),
             sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
             sa.Column("n", sa.Integer(), nullable=False),
             sa.Column("n_negative", sa.Integer(), nullable=False))
    sa.Table("tweet_topics", m,
             sa.Column("tweet_id", sa.String(64), primary_key=True),
             sa.Column("topic", sa.String(64), primary_key=True, index=True))
    sa.Table("webhook_outbox", m,
             sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
             sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
             sa.Column("url", sa.Text(), nullable=False),
             sa.Column("payload", sa.Text(), nullable=False),
             sa.Column("attempts", sa.Integer(), nullable=False),
             sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, index=True),
             sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True, index=True),
             sa.Column("last_error", sa.Text(), nullable=True),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    return m


def upgrade() -> None:
    schema().create_all(op.get_bind())


def downgrade() -> None:
    schema().drop_all(op.get_bind())
