"""Who is looking at the room: the session cookie, checked on every request.

A session comes from a notification's sign-in link (one incident, `room_link_role`) or from
an API key typed into the sign-in form (every incident, the key's role; it ends when the
key is revoked). Forms carry a token bound to the session, and the cookie is `SameSite=Lax`
and `HttpOnly`, so another site cannot act through a responder's browser.
"""

from __future__ import annotations

import time

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.room.tokens import Claims, form_token, issue, read
from shared.db.config_models import ApiKeyRow
from shared.http.keys import ROLE_RANK
from shared.settings.api import ApiSettings

COOKIE = "cw_room"


def secret(settings: ApiSettings) -> bytes:
    """The HMAC key of links, sessions and form tokens."""
    return settings.room_secret.get_secret_value().encode()


async def current(request: Request, session: AsyncSession, settings: ApiSettings) -> Claims | None:
    """The valid session of the request, if any (a revoked key's session is over)."""
    claims = read(secret(settings), request.cookies.get(COOKIE), kind="session", now=time.time())
    if claims is None:
        return None
    if claims.actor.startswith("key:"):
        key_id = claims.actor.split(":", 2)[1]
        row = await session.get(ApiKeyRow, int(key_id)) if key_id.isdigit() else None
        if row is None or row.revoked_at is not None:
            return None
    return claims


def start(response: Response, settings: ApiSettings, *, role: str, scope: str, actor: str) -> None:
    """Set the session cookie on `response`."""
    ttl = settings.room_session_ttl_s
    value = issue(
        secret(settings),
        kind="session",
        role=role,
        scope=scope,
        actor=actor,
        expires=int(time.time()) + ttl,
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=ttl,
        path="/incidents",
        httponly=True,
        samesite="lax",
        secure=settings.api_base_url.startswith("https://"),
    )


def end(response: Response) -> None:
    """Clear the session cookie."""
    response.delete_cookie(COOKIE, path="/incidents")


def may_act(claims: Claims) -> bool:
    """Responders and admins act; viewers read."""
    return ROLE_RANK.get(claims.role, -1) >= ROLE_RANK["responder"]


def form_token_of(request: Request, settings: ApiSettings) -> str:
    """The anti-forgery token the forms of this session carry."""
    return form_token(secret(settings), request.cookies.get(COOKIE, ""))


def outranks(claims: Claims | None, role: str, incident_id: int) -> bool:
    """Whether the current session already opens `incident_id` with at least `role`."""
    return (
        claims is not None
        and claims.covers(incident_id)
        and ROLE_RANK.get(claims.role, -1) >= ROLE_RANK.get(role, 99)
    )
