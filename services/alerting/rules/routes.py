"""HTTP routes of rules: CRUD and dry runs (role admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from services.alerting.rules import store
from services.alerting.rules.schemas import RuleDefinition, RuleIn, RuleRead, RuleValidation
from services.alerting.schemas import BrandQ, Id
from shared.http.deps import Admin, SessionDep

router = APIRouter()


class RuleDryRun(BaseModel):
    """Input of the rule dry run."""

    brand: str = Field(default="*", min_length=1, max_length=64, examples=["acme"])
    definition: RuleDefinition
    days: int = Field(default=7, ge=1, le=31, description="how far back to replay")


@router.get("/rules", tags=["rules"], summary="List rules (role admin)")
async def list_rules(session: SessionDep, _: Admin, brand: BrandQ = None) -> list[RuleRead]:
    """Rules by name."""
    return await store.list_rules(session, brand=brand)


@router.post(
    "/rules",
    tags=["rules"],
    status_code=201,
    summary="Create a rule (role admin)",
    responses={409: {"description": "name taken"}},
)
async def create_rule(session: SessionDep, who: Admin, body: RuleIn) -> RuleRead:
    """Create a rule."""
    return await store.create_rule(session, rule=body, actor=who.actor)


@router.post(
    "/rules/validate",
    tags=["rules"],
    summary="Dry run: where a rule would have fired (role admin)",
    description="Replays the rule over the last `days` of rollups, window by window.",
)
async def validate_rule(session: SessionDep, _: Admin, body: RuleDryRun) -> RuleValidation:
    """Dry-run a rule definition."""
    return await store.validate_rule(
        session, brand=body.brand, definition=body.definition, days=body.days
    )


@router.get("/rules/{rule_id}", tags=["rules"], summary="One rule (role admin)")
async def get_rule(session: SessionDep, _: Admin, rule_id: Id) -> RuleRead:
    """One rule."""
    return await store.get_rule(session, rule_id=rule_id)


@router.put(
    "/rules/{rule_id}",
    tags=["rules"],
    summary="Replace a rule (role admin)",
    responses={409: {"description": "name taken"}},
)
async def update_rule(session: SessionDep, who: Admin, rule_id: Id, body: RuleIn) -> RuleRead:
    """Replace a rule."""
    return await store.update_rule(session, rule_id=rule_id, rule=body, actor=who.actor)


@router.post(
    "/rules/{rule_id}/validate",
    tags=["rules"],
    summary="Dry run of a stored rule over the last week (role admin)",
)
async def validate_stored_rule(
    session: SessionDep,
    _: Admin,
    rule_id: Id,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> RuleValidation:
    """Dry-run a stored rule."""
    rule = await store.get_rule(session, rule_id=rule_id)
    definition = RuleDefinition.model_validate(rule.definition)
    return await store.validate_rule(session, brand=rule.brand, definition=definition, days=days)


@router.delete(
    "/rules/{rule_id}", tags=["rules"], status_code=204, summary="Delete a rule (role admin)"
)
async def delete_rule(session: SessionDep, who: Admin, rule_id: Id) -> Response:
    """Delete a rule."""
    await store.delete_rule(session, rule_id=rule_id, actor=who.actor)
    return Response(status_code=204)
