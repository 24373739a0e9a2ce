"""Fenced alerter leadership and catch-up paging.

``alerter_term`` holds the leadership term: an alerter that takes the advisory lock increments it, and every
alert delivery checks it (and claims its outbox row with ``FOR UPDATE SKIP LOCKED``) in the transaction that
sends it, so a leader that lost its lock without noticing cannot send what its successor sends.
``alert_outbox.claimed_term`` records which term delivered a row. ``alerts.unpaged_reason`` says why an alert
was recorded but not paged (a transition found while catching up, older than the paging bound).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerter_term",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("alert_outbox") as batch:
        batch.add_column(sa.Column("claimed_term", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("unpaged_reason", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("unpaged_reason")
    with op.batch_alter_table("alert_outbox") as batch:
        batch.drop_column("claimed_term")
    op.drop_table("alerter_term")
