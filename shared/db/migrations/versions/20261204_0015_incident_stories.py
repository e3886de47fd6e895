"""incident stories: an incident follows one story; merged incidents point at their survivor

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("story_id", sa.String(length=64), nullable=True))
    op.add_column(
        "incidents",
        sa.Column(
            "merged_into",
            sa.BigInteger(),
            sa.ForeignKey("incidents.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    # One open incident per story; incidents without a story (signals of payloads without
    # one) keep the old rule: one open incident per (brand, topic).
    op.drop_index("uq_incidents_open_story", table_name="incidents")
    op.create_index(
        "uq_incidents_open_story",
        "incidents",
        ["brand", "story_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved' AND story_id IS NOT NULL"),
    )
    op.create_index(
        "uq_incidents_open_topic",
        "incidents",
        ["brand", "topic"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved' AND story_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_incidents_open_topic", table_name="incidents")
    op.drop_index("uq_incidents_open_story", table_name="incidents")
    op.create_index(
        "uq_incidents_open_story",
        "incidents",
        ["brand", "topic"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
    )
    op.drop_column("incidents", "merged_into")
    op.drop_column("incidents", "story_id")
