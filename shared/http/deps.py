"""Typed FastAPI dependencies: database session, settings and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db.engine import session_factory
from shared.http.keys import KEY_SCHEME, ROLE_RANK, Principal, authenticate
from shared.http.ratelimit import RateLimiter
from shared.settings.api import ApiSettings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")


def get_api_settings(request: Request) -> ApiSettings:
    """The settings of the running app."""
    settings: ApiSettings = request.app.state.api_settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    engine: AsyncEngine = request.app.state.engine
    async with session_factory(engine)() as session, session.begin():
        yield session


# scope="function": commit before the response is sent, so a client that reads after a
# write always sees it, and a failing commit still becomes an error response.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ApiSettingsDep = Annotated[ApiSettings, Depends(get_api_settings)]
_KeyHeader = Annotated[str | None, Depends(_api_key_header)]
_BearerCred = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="crisiswatch"'})


async def current_principal(
    request: Request, session: SessionDep, header: _KeyHeader, bearer: _BearerCred
) -> Principal:
    """Authenticate the `X-API-Key` (or bearer) key and charge its rate-limit bucket."""
    secret = header or (bearer.credentials if bearer else None)
    if not secret:
        raise _unauthorized("an API key is required: send X-API-Key or Authorization: Bearer")
    if len(secret) > 256:
        raise _unauthorized("invalid API key")
    principal = await authenticate(session, secret)
    if principal is None:
        raise _unauthorized("invalid or revoked API key")
    limiter: RateLimiter = request.app.state.rate_limiter
    wait_s = limiter.take(principal.prefix)
    if wait_s > 0:
        raise HTTPException(
            429,
            f"rate limit exceeded for this key, retry in {wait_s:.1f}s",
            headers={"Retry-After": limiter.retry_after_header(wait_s)},
        )
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


async def require_ingest(
    request: Request, session: SessionDep, header: _KeyHeader, bearer: _BearerCred
) -> None:
    """Guard of the push route: database keys (`cwk_...`) must be valid `ingest`/`admin` keys.

    With `api_require_auth` a push without any credentials is refused here; signed pushes
    and the ingest service's own static keys are left to its `PushAuthenticator`.
    """
    settings: ApiSettings = request.app.state.api_settings
    secret = header or (bearer.credentials if bearer else None)
    if secret is None or not secret.startswith(f"{KEY_SCHEME}_"):
        signed = request.headers.get("x-crisiswatch-signature") or request.headers.get(
            "x-hub-signature-256"
        )
        if settings.api_require_auth and secret is None and not signed:
            raise _unauthorized("pushing mentions needs an ingest or admin API key")
        return
    principal = await current_principal(request, session, header, bearer)
    if principal.role not in ("ingest", "admin"):
        raise HTTPException(
            403, f"pushing mentions needs role ingest or admin, not {principal.role}"
        )


class DatabaseKeyAwareAuthenticator:
    """Wraps the ingest push authenticator: database keys were already checked by
    `require_ingest`, everything else (signatures, static keys) goes to the original."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def check(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
        """'' when the request may pass, else the reason it is refused."""
        key = headers.get("x-api-key")
        if key is not None and key.startswith(f"{KEY_SCHEME}_"):
            return ""
        result: str = self._inner.check(headers, body, now=now)
        return result


Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Responder = Annotated[Principal, Depends(require_role("responder"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
