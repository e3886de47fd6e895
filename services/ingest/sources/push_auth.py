"""The one push authentication: HMAC signatures, static keys and database API keys.

A push may carry any of these credentials, and every credential it carries must be valid:

- a signature: `X-Crisiswatch-Timestamp: <unix seconds>` and
  `X-Crisiswatch-Signature: sha256=<hex HMAC of "<timestamp>." + body>` with the webhook
  secret; one older or newer than the window, or seen before within it, is refused;
- a static key (`ingest_api_keys`) in `X-API-Key` or `Authorization: Bearer`;
- a database key (`cwk_...`, `crisiswatch apikey create`) in the same headers: it must be
  valid, unrevoked, of role `ingest` or `admin` (403 otherwise) and within its rate limit
  (429). Only a process with a key database (`app.state.engine`) can verify one.

Without any credential the push is refused (401) unless `ingest_require_auth` is false
(local development and demos say so explicitly).
Meta's `X-Hub-Signature-256` (HMAC of the body with the app secret) is checked here too.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from fastapi import HTTPException, Request
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ingest.core.dedupe import SeenCache
from shared.db.engine import session_factory
from shared.http.deps import current_principal
from shared.http.keys import KEY_SCHEME
from shared.settings.ingest import IngestSettings

TIMESTAMP_HEADER = "x-crisiswatch-timestamp"
SIGNATURE_HEADER = "x-crisiswatch-signature"
API_KEY_HEADER = "x-api-key"
PUSH_ROLES = ("ingest", "admin")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-Crisiswatch-Signature` value for `body` sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def hub_signature(secret: bytes, body: bytes) -> str:
    """Meta's `X-Hub-Signature-256` value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def check_hub_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when Meta's signature header matches `body`."""
    return header is not None and hmac.compare_digest(hub_signature(secret, body), header)


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The API key of `X-API-Key`, else of `Authorization: Bearer`, else None."""
    key = headers.get(API_KEY_HEADER)
    if key is not None:
        return key
    scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def is_database_key(key: str) -> bool:
    """True for keys of the key database (`cwk_...`)."""
    return key.startswith(f"{KEY_SCHEME}_")


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": 'Bearer realm="crisiswatch"'})


class PushAuthenticator:
    """Decides whether a push is authentic; remembers signatures to stop replays."""

    def __init__(
        self,
        *,
        secret: SecretStr | None,
        api_keys: Sequence[SecretStr],
        max_age_s: int,
        required: bool,
    ) -> None:
        self._secret = secret.get_secret_value().encode() if secret else None
        self._keys = [k.get_secret_value().encode() for k in api_keys]
        self._max_age = max_age_s
        self._required = required
        self._used = SeenCache(max_items=100_000, ttl_s=2 * max_age_s)

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> PushAuthenticator:
        """The authenticator of `settings`' webhook secret, static keys and requirement."""
        return cls(
            secret=settings.push_hmac_secret,
            api_keys=settings.ingest_api_keys,
            max_age_s=settings.signature_max_age_s,
            required=settings.ingest_require_auth,
        )

    async def authenticate(self, request: Request, body: bytes) -> None:
        """Raise `HTTPException` (401, 403 or 429) unless the push in `request` may pass."""
        refusal = self.check(request.headers, body)
        if refusal:
            raise _unauthorized(refusal)
        key = presented_key(request.headers)
        if key is not None and is_database_key(key):
            await self._check_database_key(request, key)

    def check(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
        """'' when signature and static key pass, else the reason the push is refused.

        A database key counts as a credential here; `authenticate` verifies it.
        """
        signature = headers.get(SIGNATURE_HEADER)
        key = presented_key(headers)
        if signature is not None:
            refusal = self._check_signature(headers.get(TIMESTAMP_HEADER), signature, body, now)
            if refusal:
                return refusal
        if key is not None and not is_database_key(key) and not self._is_static_key(key):
            return "unknown API key"
        if signature is None and key is None and self._required:
            return "authentication required"
        return ""

    def _is_static_key(self, key: str) -> bool:
        return any(hmac.compare_digest(key.encode(), k) for k in self._keys)

    def _check_signature(
        self, timestamp: str | None, signature: str, body: bytes, now: float | None
    ) -> str:
        if self._secret is None:
            return "signed pushes are not configured (no webhook secret)"
        if timestamp is None or not timestamp.isdigit():
            return "missing or malformed X-Crisiswatch-Timestamp"
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > self._max_age:
            return "signature timestamp outside the replay window"
        if not hmac.compare_digest(sign(self._secret, int(timestamp), body), signature):
            return "signature does not match"
        if self._used.get(signature) is not None:
            return "signature already used (replay)"
        self._used.put(signature, 1)
        return ""

    @staticmethod
    async def _check_database_key(request: Request, key: str) -> None:
        engine: AsyncEngine | None = getattr(request.app.state, "engine", None)
        if engine is None:
            raise _unauthorized("unknown API key (this process has no key database)")
        async with session_factory(engine)() as session, session.begin():
            principal = await current_principal(request, session, key, None)
        if principal.role not in PUSH_ROLES:
            raise HTTPException(
                403, f"pushing mentions needs role ingest or admin, not {principal.role}"
            )
