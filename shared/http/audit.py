"""The audit log: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.config_models import AuditLogRow


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an audit entry to the caller's transaction."""
    session.add(AuditLogRow(actor=actor, action=action, target=target[:256], details=details or {}))
    await session.flush()
