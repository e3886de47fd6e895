"""incident dismissal: when and why an incident was dismissed as a false positive

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A dismissed incident is closed (status `resolved`) with a verdict: the story may open
    # again, and the alert-quality dashboard counts dismissals per rule.
    op.add_column(
        "incidents", sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("incidents", sa.Column("dismissal_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("incidents", "dismissal_reason")
    op.drop_column("incidents", "dismissed_at")
