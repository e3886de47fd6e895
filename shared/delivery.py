"""Batches handed to the Kafka client whose fate is not known yet, so a retry never sends twice.

During a broker outage the client keeps queued batches and may deliver them once the broker
is back, long after the caller stopped waiting and decided to retry. `Unsettled` remembers,
per topic, what such batches hold; the next send to that topic first learns their fate and
then sends again only what was not delivered.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BrokerUnavailable


def message_digest(key: bytes | None, value: bytes) -> bytes:
    """A digest that tells one `(key, value)` record from another."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(b"\x00" if key is None else b"\x01" + len(key).to_bytes(4, "big") + key)
    digest.update(value)
    return digest.digest()


@dataclass(slots=True)
class QueuedBatch:
    """One batch given to the client: its delivery future and the `(key, value)` it holds."""

    future: asyncio.Future[Any]
    messages: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """Acknowledged by the broker."""
        return self.future.done() and not self.future.cancelled() and not self.future.exception()


class Unsettled:
    """The batches of abandoned sends, per topic, until later sends learn their fate.

    Several callers may share a producer and a topic: what an abandoned send did deliver is
    remembered for `remember_s`, and each retry skips the messages it finds there.
    """

    def __init__(self, *, remember_s: float = 600.0) -> None:
        self._remember_s = remember_s
        self._pending: dict[str, list[QueuedBatch]] = {}
        self._delivered: dict[str, dict[bytes, float]] = {}

    def keep(self, topic: str, batches: Sequence[QueuedBatch]) -> None:
        """Remember the batches of a send that gave up before all of them succeeded."""
        kept = [b for b in batches if not b.future.done() or b.delivered]
        if kept:
            self._pending.setdefault(topic, []).extend(kept)

    def held(self, topic: str) -> int:
        """How many remembered batches of `topic` the client still holds."""
        return sum(1 for b in self._pending.get(topic, ()) if not b.future.done())

    async def settle(self, topic: str, *, wait_s: float) -> bool:
        """Learn the fate of earlier abandoned sends to `topic`; True when some of their
        messages were delivered (then ask `take` before sending a message again).

        Waits up to `wait_s`; raises `BrokerUnavailable` while the client still holds any of
        their batches, because sending now could duplicate them.
        """
        batches = self._pending.get(topic)
        if batches:
            pending = [b.future for b in batches if not b.future.done()]
            if pending:
                await asyncio.wait(pending, timeout=wait_s)
            held = self.held(topic)
            if held:
                raise BrokerUnavailable(
                    f"Kafka still holds {held} batches for {topic} from an earlier attempt; "
                    "not sending again until they are delivered or fail"
                )
            self._pending.pop(topic, None)
            forget_at = time.monotonic() + self._remember_s
            remembered = self._delivered.setdefault(topic, {})
            for batch in batches:
                if batch.delivered:
                    for key, value in batch.messages:
                        remembered[message_digest(key, value)] = forget_at
        known = self._delivered.get(topic)
        if not known:
            return False
        now = time.monotonic()
        for digest in [d for d, at in known.items() if at <= now]:
            del known[digest]
        if not known:
            self._delivered.pop(topic, None)
            return False
        return True

    def take(self, topic: str, key: bytes | None, value: bytes) -> bool:
        """True (once) when an abandoned send already delivered this message."""
        remembered = self._delivered.get(topic)
        return (
            remembered is not None and remembered.pop(message_digest(key, value), None) is not None
        )
