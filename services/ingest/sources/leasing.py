"""Connectors leased to one ingest replica at a time, so N replicas never poll a source twice.

Each replica asks for the lease of every connector it would run (`LeaseStore`, one row per
connector in PostgreSQL); the one granted runs the connector, renews the lease every
`connector_lease_renew_s` and stops the connector at the first renewal that fails or is
refused. The others ask again every renew interval and take an expired lease over, so a
crashed holder's connector resumes after at most `connector_lease_ttl_s`. A graceful stop
releases the lease and another replica takes it at its next ask.

A term of the lease gives the connector cursors that only this grant may write (a stale
holder's write is refused, `FencedCursorStore`) and an emit that refuses to produce once
less than one renew interval of the lease is left by this replica's own clock: a replica
whose renewals stall stops producing before anyone may take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.ingest.core.assess import Candidate
from services.ingest.core.lease import Lease
from services.ingest.cursors import CursorStore
from services.ingest.lease_store import LeaseStore
from services.ingest.metrics import IngestMetrics
from services.ingest.sources.base import Emit
from shared.errors import InfraError
from shared.resilience import wait_or_stop
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)

# Builds the cursor store of one grant; the callback stops the term when a write is refused.
FencedCursors = Callable[[Lease, Callable[[], None]], CursorStore]


@dataclass(slots=True)
class LeaseTerm:
    """One grant of a connector's lease to this replica: what the connector runs with."""

    lease: Lease
    valid_until: float  # time.monotonic() by which the lease expires, by this replica's clock
    margin_s: float  # produce only while more than this is left
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False
    cursors: CursorStore = field(init=False)  # fenced by this grant, set once granted

    def valid(self) -> bool:
        """True while the connector may still produce under this grant."""
        return not self.lost and time.monotonic() < self.valid_until - self.margin_s

    def lose(self) -> None:
        """The grant is over without a release (refused or not renewed): stop the connector."""
        self.lost = True
        self.stop.set()

    def guard(self, emit: Emit) -> Emit:
        """`emit` that refuses (False, nothing produced) once the grant may be running out."""

        async def guarded(items: Sequence[Candidate]) -> bool:
            if not self.valid():
                self.stop.set()
                return False
            return await emit(items)

        return guarded


Work = Callable[[LeaseTerm], Coroutine[Any, Any, None]]


class ConnectorLeases:
    """This replica's side of the connector leases: run a connector only while holding it."""

    def __init__(
        self,
        store: LeaseStore,
        cursors: FencedCursors,
        *,
        replica: str,
        ttl_s: float,
        renew_s: float,
        metrics: IngestMetrics,
    ) -> None:
        self.store = store
        self.replica = replica
        self._cursors = cursors
        self._ttl_s = ttl_s
        self._renew_s = renew_s
        self._metrics = metrics

    @classmethod
    def from_settings(
        cls,
        settings: IngestSettings,
        store: LeaseStore,
        cursors: FencedCursors,
        metrics: IngestMetrics,
    ) -> ConnectorLeases:
        """Leases with the replica name, ttl and renew interval of `settings`."""
        return cls(
            store,
            cursors,
            replica=settings.replica_id(),
            ttl_s=settings.connector_lease_ttl_s,
            renew_s=settings.connector_lease_renew_s,
            metrics=metrics,
        )

    async def run(
        self, source: str, work: Work, stop: asyncio.Event, *, keep: asyncio.Event | None = None
    ) -> None:
        """Run `work` whenever this replica holds the lease of `source`, until `stop`.

        A healthy lease is released when `stop` is set, unless `keep` is set by then (the
        connectors are re-planned after a watchlist reload): the same replica asks again at
        once and runs the connector on, its in-process de-duplication intact. A lease kept
        for a connector no longer wanted just expires.
        """
        while not stop.is_set():
            term = await self._grant(source)
            if term is None:
                if await wait_or_stop(stop, self._renew_s):
                    return
                continue
            if await self._hold(term, work, stop, keep):
                # The connector ended by itself (nothing to follow): hold nothing idle.
                await stop.wait()
                return

    async def _grant(self, source: str) -> LeaseTerm | None:
        started = time.monotonic()
        try:
            lease = await self.store.acquire(source, replica=self.replica, ttl_s=self._ttl_s)
        except InfraError as exc:
            self._metrics.source_errors.labels(source, "lease_unavailable").inc()
            log.warning("lease of %s not asked for: %s", source, exc)
            return None
        if lease is None:
            self._metrics.leases_held.labels(source).set(0)  # the series exists on every replica
            return None
        if lease.takeover:
            self._metrics.lease_takeovers.labels(source).inc()
        log.info(
            "%s: lease of %s granted (token %d%s)",
            self.replica,
            source,
            lease.token,
            ", taken over from an expired holder" if lease.takeover else "",
        )
        term = LeaseTerm(lease=lease, valid_until=started + self._ttl_s, margin_s=self._renew_s)
        term.cursors = self._cursors(lease, term.lose)
        return term

    async def _hold(
        self, term: LeaseTerm, work: Work, stop: asyncio.Event, keep: asyncio.Event | None
    ) -> bool:
        """Run `work` while renewing `term`; True when it ended without being asked to."""
        source = term.lease.source
        self._metrics.leases_held.labels(source).set(1)
        task = asyncio.create_task(work(term))
        try:
            while not (task.done() or stop.is_set() or term.stop.is_set()):
                await _first_of(task, stop, term.stop, within_s=self._renew_s)
                if task.done() or stop.is_set() or term.stop.is_set():
                    break
                await self._renew(term)
            asked = stop.is_set() or term.stop.is_set()
            term.stop.set()
            await self._finish(task, term)
        finally:
            self._metrics.leases_held.labels(source).set(0)
            if not task.done():  # cancelled from outside (a crash): leave the lease to expire
                task.cancel()
        if term.lost:
            self._metrics.leases_lost.labels(source).inc()
            log.warning("%s: lease of %s lost; connector stopped", self.replica, source)
        # The connector has stopped: give the lease up (a no-op when another replica holds it
        # already), so a renewal that only timed out costs no ttl of standstill.
        if term.lost or keep is None or not keep.is_set():
            await self._release(term.lease)
        return not asked

    async def _renew(self, term: LeaseTerm) -> None:
        started = time.monotonic()
        # A slow database may take as long as the connector may still produce anyway.
        patience = max(term.valid_until - term.margin_s - started, 0.0)
        try:
            async with asyncio.timeout(patience):
                lease = await self.store.renew(term.lease, ttl_s=self._ttl_s)
        except (InfraError, TimeoutError) as exc:
            log.warning("lease of %s not renewed: %s", term.lease.source, exc or "too slow")
            lease = None
        if lease is None:
            term.lose()
            return
        term.lease = lease
        term.valid_until = started + self._ttl_s

    async def _finish(self, task: asyncio.Task[None], term: LeaseTerm) -> None:
        """Wait for the stopping connector while the lease lasts; cancel it after that."""
        remaining = max(0.0, term.valid_until - time.monotonic())
        done, _ = await asyncio.wait({task}, timeout=remaining)
        if not done:
            log.warning("connector %s did not stop in time; cancelling it", term.lease.source)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _release(self, lease: Lease) -> None:
        try:
            await self.store.release(lease)
        except InfraError as exc:
            log.warning("lease of %s not released (it expires instead): %s", lease.source, exc)


async def _first_of(task: asyncio.Task[None], *events: asyncio.Event, within_s: float) -> None:
    """Return when `task` ends, one of `events` is set, or `within_s` seconds pass."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait({task, *waiters}, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
