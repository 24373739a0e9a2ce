"""Tweets in a language no model serves are stored unscored: ``p_negative`` may be NULL and
``unscored_reason`` says why (models/serving/routing.py). Alerts keep their negatives' language mix and the share
of them that had emotions (the mood line speaks for that share only).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scored_tweets") as batch:
        batch.alter_column("p_negative", existing_type=sa.Float(), nullable=True)
        batch.add_column(sa.Column("unscored_reason", sa.String(200), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("languages", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("emotion_coverage", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("emotion_coverage")
        batch.drop_column("languages")
    op.execute("DELETE FROM scored_tweets WHERE p_negative IS NULL")
    with op.batch_alter_table("scored_tweets") as batch:
        batch.drop_column("unscored_reason")
        batch.alter_column("p_negative", existing_type=sa.Float(), nullable=False)
