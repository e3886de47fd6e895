"""mention markets: the countries a mention is about (watchlist mapping or connector)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Older mentions carry no market: an empty array, which every market filter leaves out.
    op.add_column(
        "mentions",
        sa.Column(
            "markets",
            postgresql.ARRAY(sa.String(length=2)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("mentions", "markets")
