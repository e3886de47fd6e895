"""Test helpers that read topics and poll the database with timeouts (never fixed sleeps)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.kafka import EventConsumer, Record

T = TypeVar("T")

# Every topic this test session creates starts with this prefix; the session deletes its own
# topics at the end and never another session's (two sessions may share one broker).
SESSION_TOPIC_PREFIX = f"test.{uuid.uuid4().hex[:6]}."


async def read_topic(
    bootstrap: str, topic: str, *, expected: int, timeout_s: float = 60.0
) -> list[Record]:
    """Read `topic` from the beginning until `expected` records arrived or time runs out."""
    consumer = EventConsumer(bootstrap, [topic], group_id=f"test-reader-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    records: list[Record] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(records) < expected and loop.time() < deadline:
            records.extend(await consumer.poll(timeout_ms=500))
        # A short extra poll catches records beyond `expected` (duplicates would show up).
        records.extend(await consumer.poll(timeout_ms=1000))
    finally:
        await consumer.stop()
    return records


async def wait_for(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout_s: float = 60.0,
    interval_s: float = 0.1,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `probe` until `done(result)` holds; return the last result (asserted by the caller).

    Exceptions of the types in `ignore` count as "not yet" until the deadline.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            result = await probe()
            if done(result) or loop.time() > deadline:
                return result
        except ignore:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(interval_s)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
