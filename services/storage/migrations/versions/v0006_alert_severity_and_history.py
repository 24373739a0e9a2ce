"""Alert severity and baseline history.

``alerts.severity`` says how big an alert is ("critical", "high", "moderate"; stream/detection/severity.py):
the page sorts firing alerts by it. ``alerts.history_minutes`` and ``alerts.baseline_note`` say what the
detector's baselines stood on when it fired (how much of the topic's own history, whether seeded from a
file, whether a prior was borrowed from the deployment's other topics).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("severity", sa.String(16), nullable=True))
        batch.add_column(sa.Column("history_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("baseline_note", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("baseline_note")
        batch.drop_column("history_minutes")
        batch.drop_column("severity")
