"""Error handlers: bad input is a 4xx with a clear message, never a 500."""

from __future__ import annotations

import logging

from asyncpg import PostgresError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from shared.errors import BadInput, BrokerUnavailable, Conflict, InvalidRecord, NotFound

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """Register the project's exception handlers on `app`."""

    @app.exception_handler(InvalidRecord)
    async def _invalid(_: Request, exc: InvalidRecord) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=422)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(BadInput)
    async def _bad_input(_: Request, exc: BadInput) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        return _database_error(exc.orig)

    # Queries that read thousands of rows use the driver connection directly, so asyncpg's
    # own errors reach here unwrapped.
    @app.exception_handler(PostgresError)
    async def _driver(_: Request, exc: PostgresError) -> JSONResponse:
        return _database_error(exc)

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


def _database_error(error: BaseException | None) -> JSONResponse:
    """422 for a value the database refuses, else 503 (the database is unwell)."""
    # SQLSTATE class 22 (data exception): a value PostgreSQL cannot represent, such as a NUL
    # character or an out-of-range number. Anything else is a genuine 5xx.
    sqlstate = str(getattr(error, "sqlstate", "") or "")
    if sqlstate.startswith("22"):
        return JSONResponse(
            {
                "detail": "a value cannot be stored or compared by the "
                "database (out of range or invalid characters)"
            },
            422,
        )
    log.error("database error: %s", type(error).__name__, exc_info=error)
    return JSONResponse({"detail": "database error"}, status_code=503, headers={"Retry-After": "5"})
