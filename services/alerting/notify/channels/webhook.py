"""Generic JSON webhook, signed with HMAC-SHA256 and carrying an idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from services.alerting.notify.channels.base import PermanentDeliveryError, Redelivery
from services.alerting.notify.channels.http import new_client, post
from shared.net import ForbiddenAddress, check_url

SIGNATURE_HEADER = "X-Crisiswatch-Signature"
TIMESTAMP_HEADER = "X-Crisiswatch-Timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Return `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """Check a signature in constant time (for receivers and tests)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier:
    """POSTs the JSON payload with `X-Crisiswatch-Signature` and `Idempotency-Key` headers.

    The key is the outbox dedupe key, the same on every attempt: resending is safe because
    the receiver drops a key it has processed (the signature covers body and timestamp only).
    """

    channel = "webhook"
    redelivery: Redelivery = "deduplicated"

    def __init__(
        self,
        url: SecretStr,
        secret: SecretStr,
        *,
        timeout_s: float = 10.0,
        allow_private: bool = False,
    ) -> None:
        self._url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self._allow_private = allow_private
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Create the HTTP client."""
        self._client = new_client(self._timeout_s, guard_private=not self._allow_private)

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str) -> None:
        """POST the signed payload; the receiver dedupes on `Idempotency-Key`."""
        if self._client is None:
            await self.start()
        assert self._client is not None
        try:
            await check_url(self._url.get_secret_value(), allow_private=self._allow_private)
        except ForbiddenAddress:
            raise _refused() from None
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret.get_secret_value().encode(), timestamp, body),
        }
        try:
            await post(
                self._client,
                self._url.get_secret_value(),
                what="webhook",
                headers=headers,
                content=body,
            )
        except ForbiddenAddress:  # the name resolved elsewhere at connect time (rebinding)
            raise _refused() from None

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _refused() -> PermanentDeliveryError:
    # The URL is a secret: the error names the rule, not the address.
    return PermanentDeliveryError(
        "webhook target resolves to a private or loopback address; "
        "set CRISISWATCH_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    )
