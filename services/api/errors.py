"""Error handlers: bad input is a 4xx with a clear message, never a 500."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.errors import BrokerUnavailable, InvalidRecord


def install(app: FastAPI) -> None:
    """Register the project's exception handlers on `app`."""

    @app.exception_handler(InvalidRecord)
    async def _invalid(_: Request, exc: InvalidRecord) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=422)

    @app.exception_handler(BrokerUnavailable)
    async def _broker(_: Request, exc: BrokerUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": "Kafka is unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)
