"""Tweet ids up to 512 characters: a Bluesky post is identified by its AT URI, longer than the 64 characters
a tweet id needed (stream/limits.py holds the number for validation and schema alike).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("scored_tweets", "tweet_topics"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("tweet_id", type_=sa.String(512), existing_type=sa.String(64), existing_nullable=False)


def downgrade() -> None:
    for table in ("scored_tweets", "tweet_topics"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("tweet_id", type_=sa.String(64), existing_type=sa.String(512), existing_nullable=False)
