"""Partition ownership of the alerting workers: an epoch per partition fences a lost owner.

`mentions.scored` is keyed by brand, so a brand's records, detector state and incidents
belong to one partition. When the group assigns a worker a partition, `claim` bumps the
partition's epoch in `partition_owners` (row lock); every checkpoint transaction reads the
epochs of the partitions it writes for under a share lock (`stale_partitions`) and writes
nothing for a partition whose epoch moved on. A worker that lost a partition (evicted,
paused past its session timeout, killed mid-checkpoint) can therefore neither save its
state nor open incidents for it, and the new owner, which claims the row only after the old
owner's last checkpoint committed, loads the state of that checkpoint. An old owner frozen
mid-checkpoint (SIGSTOP, a stalled node) would hold that lock for as long as it is frozen:
`end_blockers` terminates the database sessions a claim still waits for after
`claim_wait_s`, which aborts the frozen checkpoint with everything it meant to write.

`Partitions` is the worker's view: the epochs it holds, the partitions it gave up in a
rebalance (kept in memory until the assignment says whether they come back unchanged), and
the partition each brand's records arrive on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.alerting.detect.signals import Decisions
from services.alerting.state import load_brand_state
from shared.db.models import DetectorStateRow, PartitionOwnerRow
from shared.kafka import key_partition
from shared.schemas import ScoredMention

log = logging.getLogger(__name__)

_ENGINE_SUFFIX = "||engine"  # every brand with saved state has its `engine` row


def owner_id() -> str:
    """A name for this worker process that no other process (or restart) shares."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A partition claimed at `epoch`; `continuous` when nobody held it since our epoch."""

    partition: int
    epoch: int
    continuous: bool


@dataclass(slots=True)
class Partitions:
    """The partitions of `topic` one worker holds, with their epochs, and its brands' partitions."""

    topic: str
    owner: str = field(default_factory=owner_id)
    held: dict[int, int] = field(default_factory=dict)
    parked: dict[int, int] = field(default_factory=dict)  # revoked; epoch we last held
    brands: dict[str, int] = field(default_factory=dict)

    def owns(self, partition: int) -> bool:
        """True while the worker holds `partition` (assigned and claimed)."""
        return partition in self.held

    def note(self, brand: str, partition: int) -> None:
        """Remember the partition the brand's records arrive on."""
        self.brands[brand] = partition

    def owns_brand(self, brand: str) -> bool:
        """True when the brand's partition is held."""
        partition = self.brands.get(brand)
        return partition is not None and partition in self.held

    def park(self, partitions: Iterable[int]) -> None:
        """A rebalance began: stop writing for `partitions` until they are claimed again."""
        for p in partitions:
            if p in self.held:
                self.parked[p] = self.held.pop(p)

    def previous(self, partition: int) -> int | None:
        """The epoch held before the rebalance (None if the worker did not hold it)."""
        return self.parked.get(partition, self.held.get(partition))

    def settle(self, claimed: Iterable[Claimed]) -> set[str]:
        """Hold the claimed partitions; return the brands whose state in memory is stale.

        Those are the brands of every partition given up for good, and of every partition
        someone else held since this worker's last epoch.
        """
        claimed = list(claimed)
        kept = {c.partition for c in claimed if c.continuous}
        self.held = {c.partition: c.epoch for c in claimed}
        self.parked = {}
        return self._forget({p for p in self.brands.values() if p not in kept})

    def drop(self, partitions: Iterable[int]) -> set[str]:
        """Stop holding `partitions` (fenced) and forget their brands; return those brands."""
        gone = set(partitions)
        for p in gone:
            self.held.pop(p, None)
        return self._forget(gone)

    def _forget(self, gone: set[int]) -> set[str]:
        brands = {b for b, p in self.brands.items() if p in gone}
        for brand in brands:
            del self.brands[brand]
        return brands


async def claim(
    session: AsyncSession, *, topic: str, partition: int, owner: str, previous: int | None
) -> Claimed:
    """Take `partition` for `owner`: bump its epoch under a row lock (waits for a checkpoint
    of the previous owner that holds the share lock, so its last state is committed)."""
    await session.execute(
        insert(PartitionOwnerRow)
        .values(topic=topic, partition=partition, owner=owner, epoch=0)
        .on_conflict_do_nothing(index_elements=["topic", "partition"])
    )
    row = (
        await session.execute(
            select(PartitionOwnerRow)
            .where(PartitionOwnerRow.topic == topic, PartitionOwnerRow.partition == partition)
            .with_for_update()
        )
    ).scalar_one()
    continuous = previous is not None and row.owner == owner and row.epoch == previous
    row.epoch += 1
    row.owner = owner
    await session.flush()
    return Claimed(partition, int(row.epoch), continuous)


async def backend_pid(session: AsyncSession) -> int:
    """The PostgreSQL backend serving `session`'s transaction."""
    return int(await session.scalar(select(func.pg_backend_pid())) or 0)


async def end_blockers(engine: AsyncEngine, pid: int, *, after_s: float) -> None:
    """After `after_s`, terminate every session that blocks backend `pid` (again each second
    until cancelled): a claim that waits that long waits for a frozen owner's checkpoint."""
    await asyncio.sleep(after_s)
    while True:
        async with engine.connect() as conn:
            ended = (
                await conn.execute(
                    text("SELECT b, pg_terminate_backend(b) FROM unnest(pg_blocking_pids(:pid)) b"),
                    {"pid": pid},
                )
            ).all()
            await conn.commit()
        for blocker, done in ended:
            log.warning(
                "a partition claim waited %.0fs: ended database session %d (%s)",
                after_s,
                blocker,
                "terminated" if done else "could not be terminated",
            )
        await asyncio.sleep(1.0)


async def stale_partitions(session: AsyncSession, topic: str, held: Mapping[int, int]) -> set[int]:
    """The partitions of `held` whose epoch moved on; the rest stay locked (share) until the
    caller's transaction ends, so no claim can slip in between this check and its writes."""
    if not held:
        return set()
    rows = (
        await session.execute(
            select(PartitionOwnerRow.partition, PartitionOwnerRow.epoch)
            .where(PartitionOwnerRow.topic == topic, PartitionOwnerRow.partition.in_(held))
            .order_by(PartitionOwnerRow.partition)  # the lock order of `claim`'s callers
            .with_for_update(read=True)
        )
    ).all()
    current = {int(p): int(e) for p, e in rows}
    return {p for p, epoch in held.items() if current.get(p) != epoch}


async def partition_states(
    session: AsyncSession, partitions: set[int], count: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """Stored detector states of the brands whose key falls in `partitions` (of `count`)."""
    keys = (
        await session.scalars(
            select(DetectorStateRow.key).where(DetectorStateRow.key.endswith(_ENGINE_SUFFIX))
        )
    ).all()
    brands = [key[: -len(_ENGINE_SUFFIX)] for key in keys]
    mine = [b for b in brands if key_partition(b.encode(), count) in partitions]
    return {brand: await load_brand_state(session, brand) for brand in mine}


def keyed_only(scored: ScoredMention, key: bytes | None) -> ScoredMention:
    """`scored` about the brand its record is keyed by (the sentiment worker sends one record
    per brand); a record keyed by none of its brands counts for all of them."""
    brands = scored.mention.brands
    mine = [b for b in brands if b.encode() == key]
    if not mine or len(mine) == len(brands):
        return scored
    mention = scored.mention.model_copy(update={"brands": mine[:1]})
    return scored.model_copy(update={"mention": mention})


def split_owned(decisions: Decisions, owned: set[str]) -> tuple[Decisions, Decisions]:
    """Decisions about `owned` brands, and the rest (written by nobody: fenced)."""
    mine, other = Decisions(), Decisions()
    for signal in decisions.signals:
        (mine if signal.brand in owned else other).signals.append(signal)
    for recovery in decisions.recoveries:
        (mine if recovery.brand in owned else other).recoveries.append(recovery)
    for refresh in decisions.refreshes:
        (mine if refresh.brand in owned else other).refreshes.append(refresh)
    mine.brands = decisions.brands & owned
    other.brands = decisions.brands - owned
    return mine, other
