"""Liveness, readiness and metrics routes shared by every HTTP app.

Readiness reflects what the app needs (`Readiness`, set as `app.state.readiness`): the API
needs PostgreSQL only, so a Kafka outage leaves it ready (trends, incidents and admin work
go on) and `/readyz` reports Kafka as degraded; the push route answers 503 meanwhile.
The ingest service needs Kafka; the workers need both and a running consumer
(`shared.probes`). Liveness (`/healthz`) never checks a dependency.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import ping
from shared.errors import BrokerUnavailable, InfraError
from shared.kafka import list_topics
from shared.metrics import metrics_response

router = APIRouter(tags=["operations"])

Dependency = Literal["kafka", "postgres", "consumer"]
CHECK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Readiness:
    """Which dependencies an app checks, and which of them it cannot serve without."""

    bootstrap_servers: str
    required: frozenset[Dependency]


class ReadyAnswer(BaseModel):
    """The answer of `/readyz`."""

    ready: bool = Field(description="false (503) when a required dependency is unavailable")
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="degraded: ready, but an optional dependency is unavailable"
    )
    checks: dict[str, str] = Field(description="`ok` or `unavailable: <error>` per dependency")
    required: list[str] = Field(description="the dependencies readiness depends on")


@router.get("/healthz", summary="Liveness: the process answers", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """Always OK while the event loop runs."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the dependencies this service needs answer",
    operation_id="readyz",
    response_model=ReadyAnswer,
    responses={503: {"model": ReadyAnswer, "description": "a required dependency is down"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Check Kafka (a metadata request) and PostgreSQL (`SELECT 1`); 503 only when a
    dependency the app requires is down, else 200 (`degraded` when an optional one is)."""
    readiness: Readiness = request.app.state.readiness
    engine: AsyncEngine | None = getattr(request.app.state, "engine", None)
    checks: dict[str, str] = {}
    kafka, postgres = await asyncio.gather(
        check_kafka(readiness.bootstrap_servers),
        check_postgres(engine) if engine is not None else _absent(),
    )
    checks["kafka"] = kafka
    if postgres is not None:
        checks["postgres"] = postgres
    answer = judge(checks, readiness.required)
    return JSONResponse(answer.model_dump(), status_code=200 if answer.ready else 503)


def judge(checks: dict[str, str], required: frozenset[Dependency]) -> ReadyAnswer:
    """Ready unless a required dependency is missing or unavailable; degraded when any
    other check failed."""
    ready = all(checks.get(name) == "ok" for name in required)
    healthy = all(value == "ok" for value in checks.values())
    status: Literal["ok", "degraded", "unavailable"] = (
        "unavailable" if not ready else "ok" if healthy else "degraded"
    )
    return ReadyAnswer(ready=ready, status=status, checks=checks, required=sorted(required))


async def check_kafka(bootstrap: str) -> str:
    """`ok`, or `unavailable: <error>` when a metadata request fails."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await list_topics(bootstrap)
    except (BrokerUnavailable, TimeoutError) as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


async def check_postgres(engine: AsyncEngine) -> str:
    """`ok`, or `unavailable: <error>` when `SELECT 1` fails."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await ping(engine)
    except (InfraError, TimeoutError) as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


async def _absent() -> None:
    return None


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response, operation_id="metrics"
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's registry."""
    return metrics_response(request.app.state.registry)
