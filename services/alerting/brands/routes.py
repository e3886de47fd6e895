"""HTTP routes of brand settings: detection preset and notification routes (role admin)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.alerting.brands import store
from services.alerting.brands.schemas import BrandP, BrandSettingsIn, BrandSettingsRead
from shared.http.deps import Admin, SessionDep

router = APIRouter()


@router.get("/brands/settings", tags=["brands"], summary="Every brand's settings (role admin)")
async def list_settings(session: SessionDep, _: Admin) -> list[BrandSettingsRead]:
    """Stored brand settings, by brand."""
    return await store.list_settings(session)


@router.get(
    "/brands/{brand}/settings",
    tags=["brands"],
    summary="A brand's detection preset and notification routes (role admin)",
    responses={404: {"description": "nothing stored: the service defaults apply"}},
)
async def get_settings(session: SessionDep, _: Admin, brand: BrandP) -> BrandSettingsRead:
    """One brand's settings."""
    return await store.get_settings(session, brand=brand)


@router.put(
    "/brands/{brand}/settings",
    tags=["brands"],
    summary="Set a brand's detection preset and notification routes (role admin)",
    description="The alerting worker applies the preset within `alerting_rules_poll_s`; "
    "routes apply to the next notification. 201 when created, 200 when replaced. Audited.",
    responses={201: {"description": "created"}},
)
async def put_settings(
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
async def delete_settings(session: SessionDep, who: Admin, brand: BrandP) -> Response:
    """Delete a brand's settings."""
    await store.delete_settings(session, brand=brand, actor=who.actor)
    return Response(status_code=204)
