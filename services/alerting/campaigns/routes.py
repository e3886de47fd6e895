"""HTTP routes of the campaign calendar (role admin)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import AwareDatetime

from services.alerting.campaigns import store
from services.alerting.campaigns.store import CampaignIn, CampaignRead
from services.alerting.schemas import BrandQ, Id
from shared.http.deps import Admin, SessionDep

router = APIRouter()


@router.get("/campaigns", tags=["campaigns"], summary="Campaign calendar (role admin)")
async def list_campaigns(
    session: SessionDep,
    _: Admin,
    brand: BrandQ = None,
    active_from: AwareDatetime | None = None,
    active_to: AwareDatetime | None = None,
) -> list[CampaignRead]:
    """Campaigns overlapping the range."""
    return await store.list_campaigns(
        session, brand=brand, active_from=active_from, active_to=active_to
    )


@router.post(
    "/campaigns", tags=["campaigns"], status_code=201, summary="Add a campaign (role admin)"
)
async def create_campaign(session: SessionDep, who: Admin, body: CampaignIn) -> CampaignRead:
    """Create a campaign."""
    return await store.save_campaign(session, campaign=body, actor=who.actor)


@router.get("/campaigns/{campaign_id}", tags=["campaigns"], summary="One campaign (role admin)")
async def get_campaign(session: SessionDep, _: Admin, campaign_id: Id) -> CampaignRead:
    """One campaign."""
    return await store.get_campaign(session, campaign_id=campaign_id)


@router.put(
    "/campaigns/{campaign_id}", tags=["campaigns"], summary="Replace a campaign (role admin)"
)
async def update_campaign(
    session: SessionDep, who: Admin, campaign_id: Id, body: CampaignIn
) -> CampaignRead:
    """Replace a campaign."""
    return await store.save_campaign(
        session, campaign=body, actor=who.actor, campaign_id=campaign_id
    )


@router.delete(
    "/campaigns/{campaign_id}",
    tags=["campaigns"],
    status_code=204,
    summary="Delete a campaign (role admin)",
)
async def delete_campaign(session: SessionDep, who: Admin, campaign_id: Id) -> Response:
    """Delete a campaign."""
    await store.delete_campaign(session, campaign_id=campaign_id, actor=who.actor)
    return Response(status_code=204)
