"""HTTP CRUD of brand watchlists (role admin), validated with the ingest `Watchlist` model.

A stored watchlist is live configuration: ingest matches it within `watchlist_poll_s`, and
it replaces the YAML file of the same brand (`core/watchlist.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.core.watchlist import Watchlist
from shared.db.config_models import WatchlistRow
from shared.errors import BadInput, NotFound
from shared.http import audit
from shared.http.deps import Admin, SessionDep

router = APIRouter(prefix="/v1/watchlists", tags=["watchlists"])

BrandPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", examples=["acme"])]

_EXAMPLE = {
    "brand": "acme",
    "display_name": "Acme",
    "aliases": ["ACME Corp", "アクメ"],
    "keywords": ["acme kettle"],
    "exclusions": ["acme thunder whistle"],
    "competitors": ["globex", "initech"],
    "markets": ["DE", "US"],
    "languages": ["de", "en"],
    "language_markets": {"de": ["DE"], "en": ["US"]},
}


class WatchlistRead(BaseModel):
    """A stored watchlist."""

    brand: str
    definition: dict[str, Any]
    updated_at: datetime


class WatchlistCheck(BaseModel):
    """Result of validating a watchlist without storing it."""

    valid: bool
    brand: str
    terms: list[str]


def _read(brand: str, definition: dict[str, Any], updated_at: datetime) -> WatchlistRead:
    return WatchlistRead(brand=brand, definition=definition, updated_at=updated_at)


async def list_watchlists(session: AsyncSession) -> list[WatchlistRead]:
    """Every stored watchlist, by brand."""
    rows = (await session.scalars(select(WatchlistRow).order_by(WatchlistRow.brand))).all()
    return [_read(r.brand, r.definition, r.updated_at) for r in rows]


async def get_watchlist(session: AsyncSession, *, brand: str) -> WatchlistRead:
    """One watchlist."""
    row = await session.get(WatchlistRow, brand)
    if row is None:
        raise NotFound(f"no watchlist for brand {brand!r}")
    return _read(row.brand, row.definition, row.updated_at)


async def put_watchlist(
    session: AsyncSession, *, brand: str, watchlist: Watchlist, actor: str
) -> tuple[WatchlistRead, bool]:
    """Create or replace `brand`'s watchlist; return it and whether it was created."""
    if watchlist.brand != brand:
        raise BadInput(f"body brand {watchlist.brand!r} differs from the path brand {brand!r}")
    definition = watchlist.model_dump(mode="json")
    row = await session.get(WatchlistRow, brand, with_for_update=True)
    created = row is None
    now = datetime.now(UTC)
    if row is None:
        row = WatchlistRow(brand=brand, definition=definition, updated_at=now)
        session.add(row)
    else:
        row.definition = definition
        row.updated_at = now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="watchlist.create" if created else "watchlist.update",
        target=f"watchlist:{brand}",
        details=definition,
    )
    return _read(brand, definition, now), created


async def delete_watchlist(session: AsyncSession, *, brand: str, actor: str) -> None:
    """Delete `brand`'s watchlist."""
    row = await session.get(WatchlistRow, brand)
    if row is None:
        raise NotFound(f"no watchlist for brand {brand!r}")
    await audit.record(
        session,
        actor=actor,
        action="watchlist.delete",
        target=f"watchlist:{brand}",
        details=row.definition,
    )
    await session.delete(row)
    await session.flush()


@router.get("", operation_id="list_watchlists", summary="List watchlists (role admin)")
async def get_all(session: SessionDep, _: Admin) -> list[WatchlistRead]:
    """All watchlists."""
    return await list_watchlists(session)


@router.post(
    "/validate",
    operation_id="validate_watchlist",
    summary="Validate a watchlist without storing it (role admin)",
    openapi_extra={"requestBody": {"content": {"application/json": {"example": _EXAMPLE}}}},
)
async def validate(_: Admin, body: Watchlist) -> WatchlistCheck:
    """Validation happens in the body model; a 422 names the failing field."""
    return WatchlistCheck(valid=True, brand=body.brand, terms=body.terms)


@router.get("/{brand}", operation_id="get_watchlist", summary="One watchlist (role admin)")
async def get_one(session: SessionDep, _: Admin, brand: BrandPath) -> WatchlistRead:
    """One watchlist."""
    return await get_watchlist(session, brand=brand)


@router.put(
    "/{brand}",
    operation_id="put_watchlist",
    summary="Create or replace a watchlist (role admin)",
    responses={201: {"description": "created"}, 200: {"description": "replaced"}},
    openapi_extra={"requestBody": {"content": {"application/json": {"example": _EXAMPLE}}}},
)
async def put_one(
    session: SessionDep, who: Admin, brand: BrandPath, body: Watchlist, response: Response
) -> WatchlistRead:
    """Store a watchlist."""
    stored, created = await put_watchlist(session, brand=brand, watchlist=body, actor=who.actor)
    response.status_code = 201 if created else 200
    return stored


@router.delete(
    "/{brand}",
    operation_id="delete_watchlist",
    status_code=204,
    summary="Delete a watchlist (role admin)",
)
async def delete_one(session: SessionDep, who: Admin, brand: BrandPath) -> Response:
    """Delete a watchlist."""
    await delete_watchlist(session, brand=brand, actor=who.actor)
    return Response(status_code=204)
