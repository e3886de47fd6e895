"""Liveness, readiness and metrics routes shared by every HTTP app."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import ping
from shared.errors import BrokerUnavailable, InfraError
from shared.kafka import list_topics
from shared.metrics import metrics_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Always OK while the event loop runs."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: Kafka and PostgreSQL answer")
async def readyz(request: Request) -> JSONResponse:
    """Check a Kafka metadata request and a PostgreSQL `SELECT 1`."""
    checks: dict[str, Any] = {}
    bootstrap: str = request.app.state.bootstrap_servers
    try:
        async with asyncio.timeout(5):
            await list_topics(bootstrap)
        checks["kafka"] = "ok"
    except (BrokerUnavailable, TimeoutError) as exc:
        checks["kafka"] = f"unavailable: {type(exc).__name__}"
    engine: AsyncEngine | None = getattr(request.app.state, "engine", None)
    if engine is not None:
        try:
            async with asyncio.timeout(5):
                await ping(engine)
            checks["postgres"] = "ok"
        except (InfraError, TimeoutError) as exc:
            checks["postgres"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this process's registry."""
    return metrics_response(request.app.state.registry)
