"""brand settings: per-brand detection preset and notification routes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 07:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "brand_settings",
        sa.Column("brand", sa.String(length=64), primary_key=True),
        sa.Column("preset", sa.String(length=16), nullable=True),
        sa.Column(
            "routes",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("preset_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("brand_settings")
