"""Admin HTTP routes: API keys, privacy (erasure, retention purge) and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import privacy
from services.api.privacy import ErasureIn, ErasureReport, PurgeReport
from services.ingest.sources.push import IngestSettingsDep
from shared.db.config_models import AuditLogRow
from shared.http import keys
from shared.http.deps import Admin, ApiSettingsDep, SessionDep
from shared.http.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead

router = APIRouter(prefix="/v1")

Id = Annotated[int, Path(ge=1, le=2**62)]


class AuditEntry(BaseModel):
    """One audit log entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


async def list_audit(
    session: AsyncSession,
    *,
    action: str | None,
    target: str | None,
    before_id: int | None,
    limit: int,
) -> list[AuditEntry]:
    """Audit entries, newest first."""
    stmt = select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditLogRow.action == action)
    if target:
        stmt = stmt.where(AuditLogRow.target == target)
    if before_id is not None:
        stmt = stmt.where(AuditLogRow.id < before_id)
    return [
        AuditEntry.model_validate(r, from_attributes=True)
        for r in (await session.scalars(stmt)).all()
    ]


@router.get(
    "/keys", operation_id="list_api_keys", tags=["keys"], summary="List API keys (role admin)"
)
async def get_keys(session: SessionDep, _: Admin) -> list[ApiKeyRead]:
    """Keys without secrets."""
    return await keys.list_keys(session)


@router.post(
    "/keys",
    operation_id="create_api_key",
    tags=["keys"],
    status_code=201,
    summary="Create an API key; the secret is shown once (role admin)",
)
async def post_key(session: SessionDep, who: Admin, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create a key."""
    key_id, secret = await keys.create_key(session, body.name, body.role, actor=who.actor)
    read = await keys.get_key_read(session, key_id)
    return ApiKeyCreated(**read.model_dump(), secret=secret)


@router.delete(
    "/keys/{key_id}",
    operation_id="revoke_api_key",
    tags=["keys"],
    summary="Revoke an API key (role admin)",
)
async def delete_key(session: SessionDep, who: Admin, key_id: Id) -> ApiKeyRead:
    """Revoke a key (idempotent)."""
    return await keys.revoke_key(session, key_id, actor=who.actor)


@router.post(
    "/privacy/erasure",
    operation_id="erase_author",
    tags=["privacy"],
    summary="Erase one author's data (role admin)",
    description="Deletes the author's mentions, rebuilds the affected rollups and "
    "scrubs signals, incidents, timelines and queued notifications. Accepts the "
    "pseudonymous id `a_...` or a raw platform id with its platform.",
)
async def post_erasure(
    session: SessionDep, ingest: IngestSettingsDep, who: Admin, body: ErasureIn
) -> ErasureReport:
    """Erase an author (raw ids are pseudonymised with ingest's key to find them)."""
    return await privacy.erase_author(
        session,
        body.author,
        body.platform,
        ingest.pseudonym_secret.get_secret_value(),
        actor=who.actor,
    )


@router.post(
    "/privacy/purge",
    operation_id="purge_expired",
    tags=["privacy"],
    summary="Run the retention purge now (role admin)",
)
async def post_purge(session: SessionDep, settings: ApiSettingsDep, _: Admin) -> PurgeReport:
    """Delete mentions older than the configured retention."""
    return await privacy.purge_expired(session, timedelta(days=settings.retention_days))


@router.get(
    "/audit-log",
    operation_id="list_audit_log",
    tags=["audit"],
    summary="Who changed what (role admin)",
)
async def get_audit(
    session: SessionDep,
    _: Admin,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=256)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEntry]:
    """Audit entries, newest first."""
    return await list_audit(session, action=action, target=target, before_id=before_id, limit=limit)
