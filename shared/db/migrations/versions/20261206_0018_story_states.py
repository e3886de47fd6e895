"""story states: each brand's clustering state, saved by the sentiment worker

A sentiment worker that restarts, or takes over a brand's partition, restores the brand's
open stories from here, so an ongoing story keeps its id (and its incident).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "story_states",
        sa.Column("brand", sa.String(64), primary_key=True),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="1"),
        sa.Column("writer", sa.Text(), nullable=False),
        sa.Column(
            "saved_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("story_states")
