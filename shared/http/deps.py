"""Typed FastAPI dependencies: database session, settings and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db.engine import session_factory
from shared.http.keys import ROLE_RANK, Principal, authenticate
from shared.http.observe import add_response_headers
from shared.http.ratelimit import RateLimiter
from shared.settings.api import ApiSettings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")


def get_api_settings(request: Request) -> ApiSettings:
    """The settings of the running app."""
    settings: ApiSettings = request.app.state.api_settings
    return settings


def get_engine(request: Request) -> AsyncEngine:
    """The database engine of the running app (for work that outlives the request's session)."""
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    engine: AsyncEngine = request.app.state.engine
    async with session_factory(engine)() as session, session.begin():
        yield session


# scope="function": commit before the response is sent, so a client that reads after a
# write always sees it, and a failing commit still becomes an error response.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ApiSettingsDep = Annotated[ApiSettings, Depends(get_api_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
_KeyHeader = Annotated[str | None, Depends(_api_key_header)]
_BearerCred = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="crisiswatch"'})


async def current_principal(
    request: Request, session: SessionDep, header: _KeyHeader, bearer: _BearerCred
) -> Principal:
    """Authenticate the `X-API-Key` (or bearer) key and charge its rate-limit bucket, if any."""
    secret = header or (bearer.credentials if bearer else None)
    if not secret:
        raise _unauthorized("an API key is required: send X-API-Key or Authorization: Bearer")
    if len(secret) > 256:
        raise _unauthorized("invalid API key")
    principal = await authenticate(session, secret)
    if principal is None:
        raise _unauthorized("invalid or revoked API key")
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return principal
    wait_s = limiter.take(principal.prefix)
    quota = limiter.headers(principal.prefix)
    if wait_s > 0:
        raise HTTPException(
            429,
            f"rate limit exceeded for this key, retry in {wait_s:.1f}s",
            headers={"Retry-After": limiter.retry_after_header(wait_s), **quota},
        )
    add_response_headers(request, quota)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_role(minimum: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits keys whose role ranks at least `minimum`."""

    async def check(principal: PrincipalDep) -> Principal:
        if ROLE_RANK.get(principal.role, -1) < ROLE_RANK[minimum]:
            raise HTTPException(
                403, f"this endpoint needs role {minimum} or higher; the key has {principal.role}"
            )
        return principal

    check.__name__ = f"require_{minimum}"
    return check


Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Responder = Annotated[Principal, Depends(require_role("responder"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
