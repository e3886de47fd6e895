"""outbox two-phase delivery: `sending` leases, first attempt time, in-doubt flag

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES = "('held', 'pending', 'sending', 'sent', 'failed', 'digested')"


def upgrade() -> None:
    # The status stays a varchar: `sending` is a new value, guarded by a check constraint.
    op.add_column(
        "notification_outbox",
        sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "notification_outbox", sa.Column("claimed_by", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "notification_outbox",
        sa.Column("in_doubt", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    # Rows attempted before this revision: their first attempt is unknown, creation is close.
    op.execute(
        "UPDATE notification_outbox SET first_attempt_at = created_at "
        "WHERE attempts > 0 AND first_attempt_at IS NULL"
    )
    op.create_check_constraint("ck_outbox_status", "notification_outbox", f"status IN {_STATUSES}")


def downgrade() -> None:
    op.drop_constraint("ck_outbox_status", "notification_outbox", type_="check")
    # The old dispatcher knows no `sending`: hand such rows back to it, flagged as in doubt.
    op.execute(
        "UPDATE notification_outbox SET status = 'pending', "
        "last_error = 'interrupted before downgrade; may have been delivered' "
        "WHERE status = 'sending'"
    )
    op.drop_column("notification_outbox", "in_doubt")
    op.drop_column("notification_outbox", "claimed_by")
    op.drop_column("notification_outbox", "first_attempt_at")
