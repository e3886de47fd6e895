"""stories: each mention's story, and one row per story with its summary

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Older mentions have no story (NULL); the column is last, where the worker writes it.
    op.add_column("mentions", sa.Column("story_id", sa.String(length=64), nullable=True))
    op.create_index("ix_mentions_story", "mentions", ["story_id"])
    op.create_table(
        "stories",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("label", sa.Text(), nullable=False, server_default=""),
        sa.Column(
            "top_phrases", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"
        ),
        sa.Column(
            "languages", postgresql.ARRAY(sa.String(length=16)), nullable=False,
            server_default="{}",
        ),  # fmt: skip
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("negative", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column(
            "negative_share",
            sa.Float(),
            sa.Computed("negative::float8 / GREATEST(volume, 1)", persisted=True),
        ),
        sa.Column(
            "representatives", postgresql.JSONB(), nullable=False, server_default="{}"
        ),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_stories_brand_last_seen", "stories", ["brand", "last_seen"])


def downgrade() -> None:
    op.drop_index("ix_stories_brand_last_seen", table_name="stories")
    op.drop_table("stories")
    op.drop_index("ix_mentions_story", table_name="mentions")
    op.drop_column("mentions", "story_id")
