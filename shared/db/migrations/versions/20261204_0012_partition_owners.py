"""partition owners: which alerting worker owns each partition of mentions.scored, by epoch

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 09:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partition_owners",
        sa.Column("topic", sa.String(length=249), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column(
            "claimed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("partition_owners")
