"""Signed, expiring tokens of the incident room (pure): sign-in links and session cookies.

A token is `base64url(JSON claims).base64url(HMAC-SHA256)` under `room_secret`. A link
token (`k: link`) names one incident and the role it grants there; a session (`k: session`)
names its scope (one incident id, or `*` after an API-key sign-in), role and actor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["link", "session"]


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says."""

    kind: str
    role: str
    scope: str  # an incident id, or "*" for every incident
    actor: str
    expires: int

    def covers(self, incident_id: int | None) -> bool:
        """Whether the token opens `incident_id` (None: the overview, which needs `*`)."""
        return self.scope == "*" or (incident_id is not None and self.scope == str(incident_id))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def issue(secret: bytes, *, kind: Kind, role: str, scope: str, actor: str, expires: int) -> str:
    """A token carrying these claims, valid until the Unix time `expires`."""
    claims = {"k": kind, "r": role, "s": scope, "a": actor, "e": expires}
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_mac(secret, body)}"


def read(secret: bytes, token: str | None, *, kind: Kind, now: float) -> Claims | None:
    """The claims of an authentic, unexpired token of `kind`, else None."""
    if not token or len(token) > 2048 or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    if not hmac.compare_digest(_mac(secret, body), mac):
        return None
    try:
        raw: Any = json.loads(_unb64(body))
        claims = Claims(str(raw["k"]), str(raw["r"]), str(raw["s"]), str(raw["a"]), int(raw["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    if claims.kind != kind or claims.expires <= now:
        return None
    return claims


def form_token(secret: bytes, session: str) -> str:
    """The anti-forgery value the room's forms carry: bound to the session cookie."""
    return _mac(secret, "form:" + session)


def link_token(secret: bytes, *, incident_id: int, role: str, ttl_s: int, now: float) -> str:
    """The sign-in token of a notification link to one incident."""
    return issue(
        secret,
        kind="link",
        role=role,
        scope=str(incident_id),
        actor=f"link:incident:{incident_id}",
        expires=int(now) + ttl_s,
    )
