"""HTTP API of the alerting service: one router composed of each area's routes."""

from __future__ import annotations

from fastapi import APIRouter

from services.alerting.brands import routes as brands
from services.alerting.campaigns import routes as campaigns
from services.alerting.incidents import routes as incidents
from services.alerting.playbooks import routes as playbooks
from services.alerting.rules import routes as rules
from services.alerting.slack import routes as slack

router = APIRouter(prefix="/v1")
for area in (incidents, playbooks, rules, campaigns, slack, brands):
    router.include_router(area.router)
