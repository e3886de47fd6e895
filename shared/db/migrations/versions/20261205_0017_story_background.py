"""story background: a brand's background story (its ordinary talk) is marked on its row

The story clusterer marks the story that holds a brand's ordinary mentions (chatter,
adverts, product questions): it is never an incident's story. Existing rows are not.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stories",
        sa.Column("background", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("stories", "background")
