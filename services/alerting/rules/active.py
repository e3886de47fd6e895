"""The enabled stored rules as the alerting worker evaluates them, and when they changed.

A rule whose stored definition no longer validates (written by an older version, or edited
in the database) is refused with its reason and left out; the others load.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.detect.thresholds import ThresholdRule
from services.alerting.rules.schemas import RuleDefinition
from shared.db.config_models import RuleRow

_FINGERPRINT = text(
    "SELECT coalesce(md5(string_agg(id::text || '@' || updated_at::text || '@' || enabled::text, "
    "',' ORDER BY id)), '') FROM rules"
)


async def rules_fingerprint(session: AsyncSession) -> str:
    """A value that changes whenever a rule is created, replaced, toggled or deleted."""
    return str((await session.execute(_FINGERPRINT)).scalar_one())


def to_threshold_rule(rule_id: int, name: str, brand: str, definition: Any) -> ThresholdRule:
    """A stored rule as the engine's `ThresholdRule`; `ValidationError` when it is invalid."""
    d = RuleDefinition.model_validate(definition)
    return ThresholdRule(
        rule_id=rule_id,
        name=name,
        brand=brand,
        metric=d.metric,
        window_minutes=d.window_minutes,
        threshold=d.threshold,
        comparison=d.comparison,
        min_volume=d.min_volume,
        topic=d.topic,
        platform=d.platform,
        language=d.language,
        severity=d.severity,
    )


async def load_active_rules(
    session: AsyncSession,
) -> tuple[list[ThresholdRule], list[tuple[str, str]]]:
    """The enabled rules, and the (name, reason) of those refused."""
    rows = (
        await session.execute(
            select(RuleRow.id, RuleRow.name, RuleRow.brand, RuleRow.definition)
            .where(RuleRow.enabled)
            .order_by(RuleRow.id)
        )
    ).all()
    rules: list[ThresholdRule] = []
    refused: list[tuple[str, str]] = []
    for row in rows:
        try:
            rules.append(to_threshold_rule(row.id, row.name, row.brand, row.definition))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            refused.append((row.name, f"invalid definition: {problems}"))
    return rules, refused
