"""slack requests: the signatures of Slack requests already accepted, to refuse replays

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Slack signs timestamp and body; within the 5-minute window a captured request would
    # verify again. Each accepted signature is kept (a few minutes) so a replay is refused.
    op.create_table(
        "slack_requests",
        sa.Column("signature", sa.String(80), primary_key=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
    )
    op.create_index("ix_slack_requests_received", "slack_requests", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_requests_received", table_name="slack_requests")
    op.drop_table("slack_requests")
