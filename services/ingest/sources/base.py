"""The small interface every connector implements, and what connectors share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from services.ingest.core.assess import Candidate, Rejected
from services.ingest.core.normalize import MentionIn
from services.ingest.core.watchlist import WatchlistStore
from services.ingest.cursors import CursorStore
from services.ingest.pipeline import Ingestor
from shared import serde
from shared.resilience import Backoff
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Hands candidates to the ingest path; returns False when stopping (items not accepted).
Emit = Callable[[Sequence[Candidate]], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a connector may use: settings, watchlists, cursors, metrics."""

    settings: IngestSettings
    watchlists: WatchlistStore
    cursors: CursorStore
    ingestor: Ingestor

    def count_error(self, source: str, kind: str) -> None:
        """Count a connector failure (disconnect, HTTP status, rate limit...)."""
        self.ingestor.metrics.source_errors.labels(source, kind).inc()


class Source(ABC):
    """A connector: reads one platform and emits candidates until `stop` is set."""

    name: str

    def __init__(self, context: SourceContext) -> None:
        self.ctx = context

    @abstractmethod
    def wanted(self) -> bool:
        """True when settings and watchlists give this connector something to follow."""

    @abstractmethod
    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Read the platform until `stop` is set; resume from stored cursors."""


def candidate(raw: Any, build: Callable[[Any], dict[str, Any] | None]) -> Candidate | None:
    """`build(raw)` validated as `MentionIn`; a `Rejected` naming the reason when it fails.

    `build` returns None for records that are not posts at all (deletes, other kinds).
    """
    try:
        fields = build(raw)
        if fields is None:
            return None
        return MentionIn.model_validate(fields)
    except ValidationError as exc:
        return Rejected(_raw_bytes(raw), serde.describe_validation_error(exc), "invalid_schema")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = f"unexpected payload shape: {type(exc).__name__}: {exc}"
        return Rejected(_raw_bytes(raw), reason[:500], "invalid_payload")


def _raw_bytes(raw: Any) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode()
    try:
        return serde.dumps(raw)
    except TypeError:
        return repr(raw).encode()


class ReconnectBackoff:
    """X's documented reconnect schedule, reused by every streaming connector.

    Network errors: +250 ms per attempt up to 16 s (linear, as X prescribes). HTTP errors:
    5 s doubling up to 320 s. HTTP 429: 1 min doubling up to 16 min, and at least what the
    server asked for. The platform prescribes these as minimum waits, so the doubling ones
    are the shared `Backoff` without jitter (jitter would reconnect too early). `scale`
    shrinks every wait (tests).
    """

    def __init__(self, *, scale: float = 1.0) -> None:
        self._scale = scale
        self._network = 0
        self._http = Backoff(base_s=5.0 * scale, cap_s=320.0 * scale, jitter=False)
        self._limited = Backoff(base_s=60.0 * scale, cap_s=960.0 * scale, jitter=False)

    def reset(self) -> None:
        """A connection worked: start the schedules over."""
        self._network = 0
        self._http.reset()
        self._limited.reset()

    def network(self) -> float:
        """Wait after a TCP/TLS failure or a stall."""
        self._network += 1
        return min(0.25 * self._network, 16.0) * self._scale

    def http(self) -> float:
        """Wait after an HTTP error status."""
        return self._http.next_delay()

    def rate_limited(self, retry_after: float | None = None) -> float:
        """Wait after a 429 (at least what the server asked for)."""
        wait = self._limited.next_delay()
        return wait if retry_after is None else max(wait, retry_after)


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await `work`, cancelling it when `stop` is set first (a stream may stay silent)."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None
