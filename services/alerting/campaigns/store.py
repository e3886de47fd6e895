"""Campaigns as used by the HTTP API: the calendar's rows, created, replaced and deleted.

Every change lands in the audit log in the caller's transaction. The worker reads the same
rows through `calendar.load_calendar`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.schemas import StrictInput
from shared.db.config_models import CampaignRow
from shared.errors import NotFound
from shared.http import audit


class CampaignIn(StrictInput):
    """Input of create/replace campaign."""

    brand: str = Field(min_length=1, max_length=64, examples=["acme"])
    name: str = Field(min_length=1, max_length=256, examples=["Black Friday kettle launch"])
    starts_at: datetime = Field(examples=["2026-11-27T00:00:00Z"])
    ends_at: datetime = Field(examples=["2026-11-30T23:59:00Z"])
    expected_lift: float = Field(
        default=3.0, ge=1.0, le=1000.0, description="expected volume multiple during the campaign"
    )

    @model_validator(mode="after")
    def _ordered(self) -> CampaignIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a UTC offset")
        if self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class CampaignRead(BaseModel):
    """A stored campaign."""

    id: int
    brand: str
    name: str
    starts_at: datetime
    ends_at: datetime
    expected_lift: float


async def list_campaigns(
    session: AsyncSession,
    *,
    brand: str | None = None,
    active_from: datetime | None = None,
    active_to: datetime | None = None,
) -> list[CampaignRead]:
    """Campaigns overlapping [active_from, active_to), by start time."""
    stmt = select(CampaignRow).order_by(CampaignRow.starts_at, CampaignRow.id)
    if brand:
        stmt = stmt.where(CampaignRow.brand == brand)
    if active_from is not None:
        stmt = stmt.where(CampaignRow.ends_at > active_from)
    if active_to is not None:
        stmt = stmt.where(CampaignRow.starts_at < active_to)
    return [
        CampaignRead.model_validate(r, from_attributes=True)
        for r in (await session.scalars(stmt)).all()
    ]


async def get_campaign(session: AsyncSession, *, campaign_id: int) -> CampaignRead:
    """One campaign."""
    row = await session.get(CampaignRow, campaign_id)
    if row is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return CampaignRead.model_validate(row, from_attributes=True)


async def save_campaign(
    session: AsyncSession, *, campaign: CampaignIn, actor: str, campaign_id: int | None = None
) -> CampaignRead:
    """Create a campaign, or replace one when `campaign_id` is given."""
    if campaign_id is None:
        row = CampaignRow(**campaign.model_dump())
        session.add(row)
        action = "campaign.create"
    else:
        existing = await session.get(CampaignRow, campaign_id)
        if existing is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        row = existing
        for key, value in campaign.model_dump().items():
            setattr(row, key, value)
        action = "campaign.update"
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=action,
        target=f"campaign:{row.id}",
        details=campaign.model_dump(mode="json"),
    )
    return CampaignRead.model_validate(row, from_attributes=True)


async def delete_campaign(session: AsyncSession, *, campaign_id: int, actor: str) -> None:
    """Delete a campaign."""
    row = await session.get(CampaignRow, campaign_id)
    if row is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    await audit.record(
        session,
        actor=actor,
        action="campaign.delete",
        target=f"campaign:{campaign_id}",
        details={"name": row.name},
    )
    await session.delete(row)
    await session.flush()
