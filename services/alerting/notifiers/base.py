"""The `Notifier` protocol every channel implements, and its delivery errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from shared.errors import CrisiswatchError


class DeliveryError(CrisiswatchError):
    """A notification could not be delivered; messages never contain secrets."""


class TransientDeliveryError(DeliveryError):
    """Delivery may succeed later (timeouts, 5xx, 429); `retry_after_s` is the server's hint."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    """Delivery will never succeed as is (bad request, invalid token, unknown channel)."""


class Notifier(Protocol):
    """One delivery channel: opened in `start()`, closed in `stop()`."""

    channel: str

    async def start(self) -> None:
        """Open connections or clients."""

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str) -> None:
        """Deliver one payload; raise `TransientDeliveryError` or `PermanentDeliveryError`."""

    async def stop(self) -> None:
        """Release connections or clients."""
