"""HTTP routes of brand settings: detection preset and notification routes (role admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.alerting.brands import proposals, store
from services.alerting.brands.schemas import (
    ApplyProposalIn,
    BrandP,
    BrandSettingsIn,
    BrandSettingsRead,
    Proposal,
)
from shared.http.deps import Admin, Responder, SessionDep
from shared.settings.alerting import AlertingSettings

router = APIRouter()


def _alerting(request: Request) -> AlertingSettings:
    """The alerting service's settings the API was built with (`create_app(alerting=...)`)."""
    settings: AlertingSettings = request.app.state.alerting_settings
    return settings


Alerting = Annotated[AlertingSettings, Depends(_alerting)]


@router.get("/brands/settings", tags=["brands"], summary="Every brand's settings (role admin)")
async def list_brand_settings(session: SessionDep, _: Admin) -> list[BrandSettingsRead]:
    """Stored brand settings, by brand."""
    return await store.list_settings(session)


@router.get(
    "/brands/{brand}/settings",
    tags=["brands"],
    summary="A brand's detection preset and notification routes (role admin)",
    description="404 when nothing is stored: the service defaults apply.",
)
async def get_brand_settings(session: SessionDep, _: Admin, brand: BrandP) -> BrandSettingsRead:
    """One brand's settings."""
    return await store.get_settings(session, brand=brand)


@router.put(
    "/brands/{brand}/settings",
    tags=["brands"],
    summary="Set a brand's detection preset and notification routes (role admin)",
    description="The alerting worker applies the preset within `alerting_rules_poll_s`; "
    "routes apply to the next notification. 201 when created, 200 when replaced. Audited.",
    responses={409: {"description": "created concurrently by another request"}},
)
async def put_brand_settings(
    session: SessionDep, who: Admin, brand: BrandP, body: BrandSettingsIn, response: Response
) -> BrandSettingsRead:
    """Create or replace a brand's settings."""
    read, created = await store.put_settings(session, brand=brand, body=body, actor=who.actor)
    response.status_code = 201 if created else 200
    return read


@router.delete(
    "/brands/{brand}/settings",
    tags=["brands"],
    status_code=204,
    summary="Forget a brand's settings: the defaults apply again (role admin)",
)
async def delete_brand_settings(session: SessionDep, who: Admin, brand: BrandP) -> Response:
    """Delete a brand's settings."""
    await store.delete_settings(session, brand=brand, actor=who.actor)
    return Response(status_code=204)


@router.get(
    "/brands/{brand}/proposals",
    tags=["brands"],
    summary="Less sensitive presets proposed by repeated dismissals (role responder)",
    description="One proposal per preset-governed rule (volume_spike) whose incidents of the "
    "brand were dismissed at least `alerting_proposal_min_dismissals` times (default 3) in "
    "`alerting_proposal_days` days (default 14) since the preset last changed; none when the "
    "brand already runs `strict`.",
)
async def list_brand_proposals(
    session: SessionDep, _: Responder, brand: BrandP, alerting: Alerting
) -> list[Proposal]:
    """The brand's open proposals."""
    policy = proposals.ProposalPolicy.of(alerting)
    return await proposals.list_proposals(session, brand=brand, policy=policy)


@router.post(
    "/brands/{brand}/proposals/apply",
    tags=["brands"],
    summary="Apply a proposal: set the brand's preset to the proposed one (role admin)",
    description="Audited with the dismissals behind it; the alerting worker picks the "
    "preset up within `alerting_rules_poll_s`. 409 when the rule has no open proposal.",
    responses={409: {"description": "no open proposal for that rule"}},
)
async def apply_brand_proposal(
    session: SessionDep, who: Admin, brand: BrandP, body: ApplyProposalIn, alerting: Alerting
) -> BrandSettingsRead:
    """Apply a proposal."""
    policy = proposals.ProposalPolicy.of(alerting)
    return await proposals.apply_proposal(
        session, brand=brand, rule=body.rule, policy=policy, actor=who.actor
    )
