"""Refuse a Slack request seen before: each accepted signature is stored for the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.slack.signature import WINDOW_S, SlackRequestRefused
from shared.db.config_models import SlackRequestRow

# Kept a little longer than the window: a stored signature must outlive its timestamp.
_KEEP = timedelta(seconds=2 * WINDOW_S)


async def remember(session: AsyncSession, signature: str) -> None:
    """Store `signature`; raise `SlackRequestRefused` if it was stored already (a replay)."""
    now = datetime.now(UTC)
    await session.execute(delete(SlackRequestRow).where(SlackRequestRow.received_at < now - _KEEP))
    stored = await session.scalar(
        insert(SlackRequestRow)
        .values(signature=signature[:80], received_at=now)
        .on_conflict_do_nothing(index_elements=["signature"])
        .returning(SlackRequestRow.signature)
    )
    if stored is None:
        raise SlackRequestRefused("replayed Slack request: this signature was already used")
