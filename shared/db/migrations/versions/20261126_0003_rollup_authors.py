"""authors per minute rollup key (incremental distinct-author counts)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mention_rollup_authors",
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("brand", "minute", "topic", "platform", "language", "author_id"),
    )
    # Backfill from the stored mentions, as the sentiment store would have written them.
    op.execute(
        "INSERT INTO mention_rollup_authors "
        "SELECT DISTINCT b.brand, date_trunc('minute', m.created_at, 'UTC'), t.topic, "
        "m.platform, m.language, m.author_id FROM mentions m "
        "CROSS JOIN LATERAL unnest(m.brands) AS b(brand) "
        "CROSS JOIN LATERAL unnest(ARRAY['']::varchar[] || m.topics) AS t(topic)"
    )


def downgrade() -> None:
    op.drop_table("mention_rollup_authors")
