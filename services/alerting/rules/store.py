"""Rules as used by the HTTP API: create, read, replace, delete, and a dry run on rollups.

Every change lands in the audit log in the caller's transaction; a duplicate name is a
`Conflict`, a missing rule `NotFound`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.detect.thresholds import Measures, metric_value
from services.alerting.rules.schemas import (
    RuleDefinition,
    RuleFiring,
    RuleIn,
    RuleRead,
    RuleValidation,
)
from shared.db.config_models import RuleRow
from shared.db.models import RollupRow
from shared.errors import Conflict, NotFound
from shared.http import audit


async def list_rules(session: AsyncSession, *, brand: str | None = None) -> list[RuleRead]:
    """Rules (of one brand when given, including '*' rules), by name."""
    stmt = select(RuleRow).order_by(RuleRow.name)
    if brand:
        stmt = stmt.where(RuleRow.brand.in_([brand, "*"]))
    return [
        RuleRead.model_validate(r, from_attributes=True)
        for r in (await session.scalars(stmt)).all()
    ]


async def get_rule(session: AsyncSession, *, rule_id: int) -> RuleRead:
    """One rule."""
    row = await session.get(RuleRow, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} does not exist")
    return RuleRead.model_validate(row, from_attributes=True)


async def create_rule(session: AsyncSession, *, rule: RuleIn, actor: str) -> RuleRead:
    """Create a rule; the name must be unique."""
    row = RuleRow(
        name=rule.name,
        brand=rule.brand,
        enabled=rule.enabled,
        definition=rule.definition.model_dump(mode="json"),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a rule named {rule.name!r} already exists") from exc
    await session.refresh(row)
    await audit.record(
        session,
        actor=actor,
        action="rule.create",
        target=f"rule:{row.id}",
        details=rule.model_dump(mode="json"),
    )
    return RuleRead.model_validate(row, from_attributes=True)


async def update_rule(session: AsyncSession, *, rule_id: int, rule: RuleIn, actor: str) -> RuleRead:
    """Replace a rule's name, brand, definition and enabled flag."""
    row = await session.get(RuleRow, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} does not exist")
    before = RuleRead.model_validate(row, from_attributes=True).model_dump(mode="json")
    try:
        async with session.begin_nested():
            row.name = rule.name
            row.brand = rule.brand
            row.enabled = rule.enabled
            row.definition = rule.definition.model_dump(mode="json")
            row.updated_at = datetime.now(UTC)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a rule named {rule.name!r} already exists") from exc
    await session.refresh(row)
    await audit.record(
        session,
        actor=actor,
        action="rule.update",
        target=f"rule:{rule_id}",
        details={"before": before, "after": rule.model_dump(mode="json")},
    )
    return RuleRead.model_validate(row, from_attributes=True)


async def delete_rule(session: AsyncSession, *, rule_id: int, actor: str) -> None:
    """Delete a rule."""
    row = await session.get(RuleRow, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} does not exist")
    await audit.record(
        session,
        actor=actor,
        action="rule.delete",
        target=f"rule:{rule_id}",
        details={"name": row.name, "definition": row.definition},
    )
    await session.delete(row)
    await session.flush()


async def validate_rule(
    session: AsyncSession,
    *,
    brand: str,
    definition: RuleDefinition,
    end: datetime | None = None,
    days: int = 7,
    limit: int = 200,
) -> RuleValidation:
    """Dry run: the windows of the last `days` where the rule would have fired (from rollups)."""
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    window = timedelta(minutes=definition.window_minutes)
    bucket = func.date_bin(window, RollupRow.minute, datetime(2000, 1, 1, tzinfo=UTC)).label(
        "window_start"
    )
    conditions: list[ColumnElement[bool]] = [
        RollupRow.minute >= start,
        RollupRow.minute < end,
        RollupRow.topic == definition.topic,
    ]
    if brand != "*":
        conditions.append(RollupRow.brand == brand)
    if definition.platform:
        conditions.append(RollupRow.platform == definition.platform)
    if definition.language:
        conditions.append(RollupRow.language == definition.language)
    stmt = (
        select(
            RollupRow.brand,
            bucket,
            func.sum(RollupRow.volume).label("volume"),
            func.sum(RollupRow.negative).label("negative"),
            func.sum(RollupRow.negative + RollupRow.neutral + RollupRow.positive).label("scored"),
            func.sum(RollupRow.sentiment_sum).label("sentiment_sum"),
        )
        .where(*conditions)
        .group_by(RollupRow.brand, bucket)
        .order_by(bucket, RollupRow.brand)
    )
    rows = (await session.execute(stmt)).all()
    firings: list[RuleFiring] = []
    for row in rows:
        volume = int(row.volume)
        if volume < definition.min_volume:
            continue
        value = metric_value(
            definition.metric,
            Measures(volume, int(row.negative), int(row.scored), float(row.sentiment_sum)),
        )
        if value is None:
            continue
        hit = (
            value >= definition.threshold
            if definition.comparison == ">="
            else (value <= definition.threshold)
        )
        if hit and len(firings) < limit:
            firings.append(
                RuleFiring(
                    brand=row.brand,
                    window_start=row.window_start,
                    value=round(value, 4),
                    volume=volume,
                )
            )
    return RuleValidation(start=start, end=end, windows_checked=len(rows), firings=firings)
