"""Error handlers: bad input is a 4xx with a clear message, never a 500.

Every error answer is a problem-details object (`shared.http.problems`), whether it comes
from our exceptions, from FastAPI/Starlette (`HTTPException`, unknown routes, methods not
allowed, request validation) or from a failure nobody foresaw (a 500 that names no
internals; the log line carries the traceback and the request id).
"""

from __future__ import annotations

import logging

from asyncpg import PostgresError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import BadInput, BrokerUnavailable, Conflict, InvalidRecord, NotFound
from shared.http.problems import problem

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """Register the project's exception handlers on `app`."""

    @app.exception_handler(InvalidRecord)
    async def _invalid(request: Request, exc: InvalidRecord) -> JSONResponse:
        return problem(422, exc.reason, instance=request.url.path)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc), instance=request.url.path)

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return problem(409, str(exc), instance=request.url.path)

    @app.exception_handler(BadInput)
    async def _bad_input(request: Request, exc: BadInput) -> JSONResponse:
        return problem(422, str(exc), instance=request.url.path)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        return _database_error(request, exc.orig)

    # Queries that read thousands of rows use the driver connection directly, so asyncpg's
    # own errors reach here unwrapped.
    @app.exception_handler(PostgresError)
    async def _driver(request: Request, exc: PostgresError) -> JSONResponse:
        return _database_error(request, exc)

    @app.exception_handler(BrokerUnavailable)
    async def _broker(request: Request, exc: BrokerUnavailable) -> JSONResponse:
        return problem(
            503,
            "Kafka is unavailable, retry later",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem(422, summary or "invalid request", instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return problem(
            500, "internal error; the request id finds it in the logs", instance=request.url.path
        )


def _database_error(request: Request, error: BaseException | None) -> JSONResponse:
    """422 for a value the database refuses, else 503 (the database is unwell)."""
    # SQLSTATE class 22 (data exception): a value PostgreSQL cannot represent, such as a NUL
    # character or an out-of-range number. Anything else is a genuine 5xx.
    sqlstate = str(getattr(error, "sqlstate", "") or "")
    if sqlstate.startswith("22"):
        return problem(
            422,
            "a value cannot be stored or compared by the database "
            "(out of range or invalid characters)",
            instance=request.url.path,
        )
    log.error("database error: %s", type(error).__name__, exc_info=error)
    return problem(503, "database error", instance=request.url.path, headers={"Retry-After": "5"})
