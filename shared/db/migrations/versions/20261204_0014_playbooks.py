"""playbooks: response playbooks stored in the database (the packaged YAML seeds them)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playbooks",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("category", name="uq_playbooks_category"),
    )


def downgrade() -> None:
    op.drop_table("playbooks")
