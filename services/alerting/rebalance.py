"""The alerting worker's side of a rebalance: checkpoint, claim, forget, restore, fence.

`PartitionSteps` is mixed into `AlertingWorker`, which the consumer calls as its
`PartitionListener`. The callbacks take the worker's lock, so they never interleave with a
step of its loop; between `revoked` and `assigned` the loop processes nothing. An error
inside a callback (which aiokafka would only log) is kept and raised by the worker's loop.
The epochs and their checks are in `services.alerting.ownership`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.detect.engine import DetectionEngine
from services.alerting.detect.signals import Decisions
from services.alerting.metrics import AlertingMetrics
from services.alerting.ownership import (
    Partitions,
    backend_pid,
    claim,
    end_blockers,
    partition_states,
    split_owned,
)
from shared.db.engine import transaction
from shared.kafka import EventConsumer, Record, key_partition
from shared.partitions import TopicPartitions

log = logging.getLogger(__name__)


class PartitionSteps:
    """Rebalance callbacks and fencing of `AlertingWorker` (see the module docstring)."""

    _consumer: EventConsumer
    _engine: AsyncEngine
    _detection: DetectionEngine
    _metrics: AlertingMetrics
    _clock: Callable[[], float]
    _ready: set[str]
    _pending: list[Record]
    _decisions: Decisions

    if TYPE_CHECKING:  # implemented by the worker

        async def _flush(self, failed: str) -> None: ...

        async def _guarded(
            self, step: Callable[[], Awaitable[None]], stop: asyncio.Event, what: str
        ) -> bool: ...

    def _init_partitions(
        self, partitions: Partitions, *, restore_on_assign: bool, claim_wait_s: float
    ) -> None:
        self._partitions = partitions
        self._restore_on_assign = restore_on_assign
        self._claim_wait_s = claim_wait_s
        self._lock = asyncio.Lock()  # the loop's steps and the rebalance callbacks
        self._assigned = asyncio.Event()  # clear between `revoked` and `assigned`
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None  # raised in a rebalance callback

    async def revoked(self, partitions: TopicPartitions) -> None:
        """Checkpoint before `partitions` move; their state stays until `assigned` says."""
        async with self._lock:
            self._assigned.clear()
            try:
                await self._flush("checkpoint before a rebalance failed")
            except BaseException as exc:  # aiokafka would only log it: the loop raises it
                self._failure = exc
            self._partitions.park(p for t, p in partitions if t == self._partitions.topic)
            self._metrics.partitions_owned.set(len(self._partitions.held))

    async def assigned(self, partitions: TopicPartitions) -> None:
        """Claim `partitions`: forget stale brands, load the stored state of new ones."""
        mine = sorted(p for t, p in partitions if t == self._partitions.topic)
        async with self._lock:
            try:
                claimed = functools.partial(self._claim, mine)
                if await self._guarded(claimed, self._stop, "partition claim"):
                    self._assigned.set()
            except BaseException as exc:  # aiokafka would only log it: the loop raises it
                self._failure = exc

    async def _claim(self, mine: list[int]) -> None:
        """Claim `mine` in one transaction (ascending, the lock order of the fencing check)."""
        parts = self._partitions
        count = self._consumer.partition_count(parts.topic)
        async with transaction(self._engine) as session:
            pid = await backend_pid(session)
            blockers = end_blockers(self._engine, pid, after_s=self._claim_wait_s)
            watchdog = asyncio.create_task(blockers)
            try:
                claimed = [
                    await claim(
                        session,
                        topic=parts.topic,
                        partition=p,
                        owner=parts.owner,
                        previous=parts.previous(p),
                    )
                    for p in mine
                ]
            finally:
                watchdog.cancel()
            fresh = {c.partition for c in claimed if not c.continuous}
            restore = bool(fresh and count and self._restore_on_assign)
            loaded = await partition_states(session, fresh, count or 1) if restore else {}
        self._forget(parts.settle(claimed))
        for brand, rows in loaded.items():
            self._detection.load(brand, rows, wall_now=self._clock())
            self._ready.add(brand)
            parts.note(brand, key_partition(brand.encode(), count or 1))
        self._metrics.partitions_owned.set(len(parts.held))
        log.info(
            "partitions %s of %s claimed by %s (%d with new state: %d brands restored)",
            {c.partition: c.epoch for c in claimed},
            parts.topic,
            parts.owner,
            len(fresh),
            len(loaded),
        )

    def _forget(self, brands: set[str]) -> None:
        """Drop brands another worker owns now, with what is pending for them."""
        for brand in brands:
            self._detection.forget(brand)
            self._ready.discard(brand)
        owned = {b for b in self._partitions.brands if self._partitions.owns_brand(b)}
        self._decisions, _ = split_owned(self._decisions, owned)
        self._pending = [r for r in self._pending if self._partitions.owns(r.partition)]

    def _fenced(self, stale: set[int], fenced: Decisions) -> None:
        """Count the writes refused for lost partitions; forget those partitions' brands."""
        for kind, n in (
            ("signal", len(fenced.signals)),
            ("recovery", len(fenced.recoveries)),
            ("state", len(fenced.brands)),
        ):
            if n:
                self._metrics.fenced.labels(kind).inc(n)
        if stale:
            log.warning(
                "partitions %s of %s are owned by another worker: their writes were refused",
                sorted(stale),
                self._partitions.topic,
            )
            self._forget(self._partitions.drop(stale))
            self._metrics.partitions_owned.set(len(self._partitions.held))
