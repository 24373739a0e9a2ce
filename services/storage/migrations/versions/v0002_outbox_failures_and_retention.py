"""The outbox serves every alert channel, not only webhooks: ``webhook_outbox`` becomes ``alert_outbox`` and
``url`` becomes ``destination``. Deliveries that give up are marked ``failed_at`` (bounded retries). The
retention job deletes old minute rollups by minute across topics, so ``minute`` gets its own index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_webhook_outbox_delivered_at", table_name="webhook_outbox")
    op.drop_index("ix_webhook_outbox_next_attempt_at", table_name="webhook_outbox")
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.alter_column("url", new_column_name="destination", existing_type=sa.Text(), existing_nullable=False)
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.rename_table("webhook_outbox", "alert_outbox")
    op.create_index("ix_alert_outbox_delivered_at", "alert_outbox", ["delivered_at"])
    op.create_index("ix_alert_outbox_next_attempt_at", "alert_outbox", ["next_attempt_at"])
    op.create_index("ix_alert_outbox_failed_at", "alert_outbox", ["failed_at"])
    op.create_index("ix_topic_minute_rollups_minute", "topic_minute_rollups", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_topic_minute_rollups_minute", table_name="topic_minute_rollups")
    for name in ("failed_at", "next_attempt_at", "delivered_at"):
        op.drop_index(f"ix_alert_outbox_{name}", table_name="alert_outbox")
    op.rename_table("alert_outbox", "webhook_outbox")
    with op.batch_alter_table("webhook_outbox") as batch:
        batch.drop_column("failed_at")
        batch.alter_column("destination", new_column_name="url", existing_type=sa.Text(), existing_nullable=False)
    op.create_index("ix_webhook_outbox_delivered_at", "webhook_outbox", ["delivered_at"])
    op.create_index("ix_webhook_outbox_next_attempt_at", "webhook_outbox", ["next_attempt_at"])
