"""Dismissal feedback: a preset-governed rule dismissed repeatedly for a brand proposes a
less sensitive preset for it; an admin applies the proposal, which sets the brand preset.

Only the volume detectors follow the preset (the spike and the sustained-rise rules), so
only their dismissals count; user rules (`/v1/rules`) are tuned by editing them.
Dismissals before the brand's preset last changed do not count (a proposal applied is not
proposed again from the same dismissals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.brands import store
from services.alerting.brands.schemas import BrandSettingsIn, BrandSettingsRead, Proposal
from services.alerting.detect.spikes import RULE as SPIKE_RULE
from services.alerting.detect.sustained import RULE as SUSTAINED_RULE
from shared.db.config_models import BrandSettingsRow
from shared.db.models import IncidentRow
from shared.errors import Conflict
from shared.settings.alerting import AlertingSettings

# The rules whose sensitivity the preset sets (`detect.spikes.preset`).
PRESET_RULES = (SPIKE_RULE, SUSTAINED_RULE)
LESS_SENSITIVE = {"sensitive": "balanced", "balanced": "strict"}


@dataclass(frozen=True, slots=True)
class ProposalPolicy:
    """When dismissals propose a preset: `min_dismissals` of one rule for a brand within
    `days`, starting from `default_preset` for brands without their own."""

    default_preset: str = "balanced"
    min_dismissals: int = 3
    days: int = 14

    @classmethod
    def of(cls, settings: AlertingSettings) -> ProposalPolicy:
        """The policy the alerting settings configure."""
        return cls(
            settings.alerting_preset,
            settings.alerting_proposal_min_dismissals,
            settings.alerting_proposal_days,
        )


async def list_proposals(
    session: AsyncSession,
    *,
    brand: str,
    policy: ProposalPolicy,
    now: datetime | None = None,
) -> list[Proposal]:
    """The brand's open proposals: one per preset rule dismissed `min_dismissals` times."""
    now = now or datetime.now(UTC)
    min_dismissals = policy.min_dismissals
    row = await session.get(BrandSettingsRow, brand)
    current = (row.preset if row is not None else None) or policy.default_preset
    proposed = LESS_SENSITIVE.get(current)
    if proposed is None:
        return []  # already the least sensitive preset
    since = now - timedelta(days=policy.days)
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
    policy: ProposalPolicy,
    actor: str,
) -> BrandSettingsRead:
    """Set the brand's preset to the one proposed for `rule`; 409 when there is none."""
    proposals = await list_proposals(session, brand=brand, policy=policy)
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
