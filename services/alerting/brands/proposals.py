"""Dismissal feedback: a preset-governed rule dismissed repeatedly for a brand proposes a
less sensitive preset for it; an admin applies the proposal, which sets the brand preset.

Only the volume-spike detectors follow the preset, so only their dismissals count; user
rules (`/v1/rules`) are tuned by editing them. Dismissals before the brand's preset last
changed do not count (a proposal applied is not proposed again from the same dismissals).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.brands import store
from services.alerting.brands.schemas import BrandSettingsIn, BrandSettingsRead, Proposal
from shared.db.models import BrandSettingsRow, IncidentRow
from shared.errors import Conflict

# The rules whose sensitivity the preset sets (`detect.spikes.RULE`).
PRESET_RULES = ("volume_spike",)
LESS_SENSITIVE = {"sensitive": "balanced", "balanced": "strict"}
# A proposal needs this many dismissals of one rule for the brand in this many days (the
# defaults of `alerting_proposal_min_dismissals` and `alerting_proposal_days`).
MIN_DISMISSALS = 3
DAYS = 14


async def list_proposals(
    session: AsyncSession,
    *,
    brand: str,
    default_preset: str,
    min_dismissals: int = MIN_DISMISSALS,
    days: int = DAYS,
    now: datetime | None = None,
) -> list[Proposal]:
    """The brand's open proposals: one per preset rule dismissed `min_dismissals` times."""
    now = now or datetime.now(UTC)
    row = await session.get(BrandSettingsRow, brand)
    current = (row.preset if row is not None else None) or default_preset
    proposed = LESS_SENSITIVE.get(current)
    if proposed is None:
        return []  # already the least sensitive preset
    since = now - timedelta(days=days)
    if row is not None and row.preset_changed_at is not None:
        since = max(since, row.preset_changed_at)
    counts = await session.execute(
        select(IncidentRow.rule, func.count(), func.max(IncidentRow.dismissed_at))
        .where(
            IncidentRow.brand == brand,
            IncidentRow.rule.in_(PRESET_RULES),
            IncidentRow.dismissed_at >= since,
        )
        .group_by(IncidentRow.rule)
        .order_by(IncidentRow.rule)
    )
    out = []
    for rule, count, last in counts.all():
        if count < min_dismissals:
            continue
        reasons = await session.scalars(
            select(IncidentRow.dismissal_reason)
            .where(
                IncidentRow.brand == brand,
                IncidentRow.rule == rule,
                IncidentRow.dismissed_at >= since,
            )
            .order_by(IncidentRow.dismissed_at.desc())
            .limit(5)
        )
        out.append(
            Proposal(
                brand=brand,
                rule=rule,
                dismissals=count,
                since=since,
                last_dismissed_at=last,
                current_preset=current,
                proposed_preset=proposed,
                reasons=[r for r in reasons.all() if r],
            )
        )
    return out


async def apply_proposal(
    session: AsyncSession,
    *,
    brand: str,
    rule: str,
    default_preset: str,
    actor: str,
    min_dismissals: int = MIN_DISMISSALS,
    days: int = DAYS,
) -> BrandSettingsRead:
    """Set the brand's preset to the one proposed for `rule`; 409 when there is none."""
    proposals = await list_proposals(
        session,
        brand=brand,
        default_preset=default_preset,
        min_dismissals=min_dismissals,
        days=days,
    )
    proposal = next((p for p in proposals if p.rule == rule), None)
    if proposal is None:
        raise Conflict(f"no open proposal for rule {rule!r} of brand {brand!r}")
    row = await session.get(BrandSettingsRow, brand)
    body = BrandSettingsIn(
        preset=proposal.proposed_preset,  # type: ignore[arg-type]  # a preset name
        routes=row.routes if row is not None else {},
    )
    read, _ = await store.put_settings(
        session,
        brand=brand,
        body=body,
        actor=actor,
        action="proposal_apply",
        note=proposal.model_dump(mode="json"),
    )
    return read
