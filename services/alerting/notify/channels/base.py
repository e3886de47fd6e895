"""The `Notifier` protocol every channel implements, and its delivery errors.

A notifier may also implement `DeliveryCheck`: after a crash (or a timeout) left it unknown
whether a message reached the receiver, the outbox asks before sending it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from shared.errors import CrisiswatchError

Redelivery = Literal["deduplicated", "same_message_id", "possibly_repeated"]
"""What the receiver makes of a message sent twice with the same idempotency key:
`deduplicated` (it drops the repeat), `same_message_id` (the repeat is recognisable, mail
stores collapse it), `possibly_repeated` (people may see it twice)."""


class DeliveryError(CrisiswatchError):
    """A notification could not be delivered; messages never contain secrets."""


class TransientDeliveryError(DeliveryError):
    """Delivery may succeed later (timeouts, 5xx, 429); `retry_after_s` is the server's hint.

    `maybe_delivered` is true when the request may have reached the receiver before the
    error (a read timeout, a dropped connection): the outbox confirms before resending.
    """

    def __init__(
        self, reason: str, *, retry_after_s: float | None = None, maybe_delivered: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s
        self.maybe_delivered = maybe_delivered


class PermanentDeliveryError(DeliveryError):
    """Delivery will never succeed as is (bad request, invalid token, unknown channel)."""


class Notifier(Protocol):
    """One delivery channel: opened in `start()`, closed in `stop()`."""

    channel: str
    redelivery: Redelivery

    async def start(self) -> None:
        """Open connections or clients."""

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str) -> None:
        """Deliver one payload; raise `TransientDeliveryError` or `PermanentDeliveryError`."""

    async def stop(self) -> None:
        """Release connections or clients."""


@runtime_checkable
class DeliveryCheck(Protocol):
    """A channel that can tell whether a message was already delivered."""

    async def already_delivered(
        self, payload: Mapping[str, Any], *, idempotency_key: str, since: datetime
    ) -> bool:
        """Return whether the message sent with `idempotency_key` after `since` arrived.

        Raise `DeliveryError` when the receiver cannot answer (missing scope, outage).
        """
