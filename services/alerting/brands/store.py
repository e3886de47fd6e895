"""Brand settings as used by the HTTP API and the alerting worker.

The API writes them (audited, in the caller's transaction); the worker polls a fingerprint
and reloads the presets when it changes; notification routing reads a brand's routes when
it enqueues, so a route change applies to the next notification.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.brands.schemas import BrandSettingsIn, BrandSettingsRead
from shared.db.config_models import BrandSettingsRow
from shared.errors import Conflict, NotFound
from shared.http import audit

_FINGERPRINT = text(
    "SELECT coalesce(md5(string_agg(brand || '@' || updated_at::text, ',' ORDER BY brand)), '') "
    "FROM brand_settings"
)


def _read(row: BrandSettingsRow) -> BrandSettingsRead:
    return BrandSettingsRead.model_validate(row, from_attributes=True)


async def list_settings(session: AsyncSession) -> list[BrandSettingsRead]:
    """Every brand with stored settings, by brand."""
    rows = await session.scalars(select(BrandSettingsRow).order_by(BrandSettingsRow.brand))
    return [_read(r) for r in rows.all()]


async def get_settings(session: AsyncSession, *, brand: str) -> BrandSettingsRead:
    """One brand's stored settings."""
    row = await session.get(BrandSettingsRow, brand)
    if row is None:
        raise NotFound(f"no settings stored for brand {brand!r} (the defaults apply)")
    return _read(row)


async def put_settings(
    session: AsyncSession,
    *,
    brand: str,
    body: BrandSettingsIn,
    actor: str,
    action: str = "put",
    note: dict[str, Any] | None = None,
) -> tuple[BrandSettingsRead, bool]:
    """Create or replace a brand's settings; return them and whether they were created.

    `action` and `note` name the cause in the audit log (an applied proposal).
    """
    row = await session.get(BrandSettingsRow, brand, with_for_update=True)
    created = row is None
    before = None if row is None else _read(row).model_dump(mode="json", exclude={"updated_at"})
    now = datetime.now(UTC)
    if row is None:
        row = BrandSettingsRow(brand=brand, preset=None)
    if row.preset != body.preset:
        row.preset_changed_at = now
    row.preset = body.preset
    row.routes = {sev: list(targets) for sev, targets in body.routes.items()}
    row.updated_at = now
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:  # another request created them first
        raise Conflict(f"settings of brand {brand!r} were created concurrently; retry") from exc
    await audit.record(
        session,
        actor=actor,
        action=f"brand_settings.{action}",
        target=f"brand:{brand}",
        details={
            "before": before,
            "after": body.model_dump(mode="json"),
            **({"because": note} if note else {}),
        },
    )
    return _read(row), created


async def delete_settings(session: AsyncSession, *, brand: str, actor: str) -> None:
    """Forget a brand's settings: the service defaults apply again."""
    row = await session.get(BrandSettingsRow, brand)
    if row is None:
        raise NotFound(f"no settings stored for brand {brand!r}")
    await audit.record(
        session,
        actor=actor,
        action="brand_settings.delete",
        target=f"brand:{brand}",
        details={"preset": row.preset, "routes": row.routes},
    )
    await session.delete(row)
    await session.flush()


async def settings_fingerprint(session: AsyncSession) -> str:
    """A value that changes whenever a brand's settings are stored or deleted."""
    return str((await session.execute(_FINGERPRINT)).scalar_one())


async def load_presets(session: AsyncSession) -> dict[str, str]:
    """The brands with a stored preset: brand -> preset."""
    rows = await session.execute(
        select(BrandSettingsRow.brand, BrandSettingsRow.preset).where(
            BrandSettingsRow.preset.is_not(None)
        )
    )
    return {brand: str(preset) for brand, preset in rows.all()}


async def brand_routes(session: AsyncSession, brand: str) -> dict[str, list[str]]:
    """The brand's own routes (severity -> targets); empty when it has none."""
    routes = await session.scalar(
        select(BrandSettingsRow.routes).where(BrandSettingsRow.brand == brand)
    )
    return dict(routes or {})
