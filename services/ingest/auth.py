"""Authentication of pushed batches: HMAC-SHA256 signatures with a replay window, or API keys.

Signed pushes send `X-Crisiswatch-Timestamp: <unix seconds>` and
`X-Crisiswatch-Signature: sha256=<hex HMAC of "<timestamp>." + body>`. A signature older
or newer than the window, or seen before within it, is refused. Meta's
`X-Hub-Signature-256` (HMAC of the body with the app secret) is checked here too.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from pydantic import SecretStr

from services.ingest.core.dedupe import SeenCache

TIMESTAMP_HEADER = "x-crisiswatch-timestamp"
SIGNATURE_HEADER = "x-crisiswatch-signature"
API_KEY_HEADER = "x-api-key"


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


class PushAuthenticator:
    """Decides whether a push request is authentic; remembers signatures to stop replays."""

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

    def check(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
        """'' when the request may pass, else the reason it is refused (answer 401)."""
        signature = headers.get(SIGNATURE_HEADER)
        key = headers.get(API_KEY_HEADER)
        if signature is not None:
            return self._check_signature(headers.get(TIMESTAMP_HEADER), signature, body, now)
        if key is not None:
            ok = any(hmac.compare_digest(key.encode(), k) for k in self._keys)
            return "" if ok else "unknown API key"
        return "authentication required" if self._required else ""

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
