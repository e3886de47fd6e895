"""Where enrichment runs: a thread of the worker process, or a pool of processes.

Enrichment is pure Python and CPU-bound, so in a thread it competes with the worker's event
loop (Kafka, PostgreSQL) for the interpreter lock. `ProcessStage` moves decoding, scoring
and `prepare` into child processes; only raw bytes go in and plain tuples come back.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from services.sentiment.core.enrich import Enricher
from services.sentiment.core.prepared import PreparedMention, prepare
from shared import serde
from shared.errors import InvalidRecord
from shared.heap import freeze_startup_objects
from shared.schemas import Mention
from shared.settings.sentiment import SentimentSettings


@dataclass
class EnrichedBatch:
    """Prepared mentions of a batch, and the records that could not be decoded."""

    prepared: list[PreparedMention] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)


def enrich_values(
    enricher: Enricher, values: Sequence[bytes], alert_brands: frozenset[str] = frozenset()
) -> EnrichedBatch:
    """Decode raw `mentions.raw` values, enrich the valid ones and prepare them for storing.

    `alert_brands` are brands inside an alert window (their mentions go to the transformer).
    """
    batch = EnrichedBatch()
    mentions: list[Mention] = []
    for position, value in enumerate(values):
        try:
            mentions.append(serde.decode(Mention, value))
        except InvalidRecord as exc:
            batch.invalid.append((position, exc.reason))
    if mentions:
        scored, vectors = enricher.enrich_with_vectors(mentions, alert_brands=alert_brands)
        batch.prepared = [prepare(s, v) for s, v in zip(scored, vectors, strict=True)]
    return batch


class EnrichStage(Protocol):
    """Turns a batch of raw record values into prepared mentions."""

    # How many batches the worker may hand over at once (a pool keeps its processes busy
    # with the next batch while the slowest part of the current one finishes).
    concurrent_batches: int

    async def enrich(
        self, values: Sequence[bytes], alert_brands: frozenset[str] = frozenset()
    ) -> EnrichedBatch:
        """Decode, enrich and prepare `values` (order kept)."""
        ...

    async def close(self) -> None:
        """Release what the stage holds."""
        ...


class ThreadStage:
    """Enrichment in a thread of this process (tests, and when processes are set to 0)."""

    concurrent_batches = 1  # one enricher, used by one thread at a time

    def __init__(self, enricher: Enricher) -> None:
        self._enricher = enricher

    async def enrich(
        self, values: Sequence[bytes], alert_brands: frozenset[str] = frozenset()
    ) -> EnrichedBatch:
        """Run `enrich_values` in a worker thread."""
        return await asyncio.to_thread(enrich_values, self._enricher, values, alert_brands)

    async def close(self) -> None:
        """Nothing to release."""


_child_enricher: Enricher | None = None


def _init_child(settings: SentimentSettings, parent_pid: int) -> None:
    global _child_enricher
    # Ctrl-C reaches the whole process group: the parent shuts the pool down in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    _child_enricher = Enricher.from_settings(settings)
    freeze_startup_objects()


def _exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """End this child once its parent is gone (killed with SIGKILL, say): no orphans."""
    while os.getppid() == parent_pid:
        time.sleep(interval_s)
    os._exit(0)


def _enrich_in_child(
    values: Sequence[bytes], alert_brands: frozenset[str] = frozenset()
) -> EnrichedBatch:
    if _child_enricher is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("enrichment process was not initialised")
    return enrich_values(_child_enricher, values, alert_brands)


class ProcessStage:
    """Enrichment spread over `processes` child processes, each with its own scorers."""

    MIN_CHUNK = 64  # smaller chunks cost more in hand-over than they save
    concurrent_batches = 2

    def __init__(self, settings: SentimentSettings, processes: int) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self._processes = processes
        self._pool = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_child,
            initargs=(settings, os.getpid()),
        )

    async def start(self) -> None:
        """Start the children and load their scorers before the first batch arrives."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(self._pool, _enrich_in_child, [])
                for _ in range(self._processes)
            )
        )

    async def enrich(
        self, values: Sequence[bytes], alert_brands: frozenset[str] = frozenset()
    ) -> EnrichedBatch:
        """Split `values` into contiguous chunks, one per child, and join the results."""
        loop = asyncio.get_running_loop()
        size = max(self.MIN_CHUNK, -(-len(values) // self._processes))
        starts = range(0, len(values), size)
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(
                    self._pool, _enrich_in_child, values[s : s + size], alert_brands
                )
                for s in starts
            )
        )
        joined = EnrichedBatch()
        for start, part in zip(starts, parts, strict=True):
            joined.prepared.extend(part.prepared)
            joined.invalid.extend((start + position, reason) for position, reason in part.invalid)
        return joined

    async def close(self) -> None:
        """Stop the children (pending work is dropped: its offsets were never committed)."""
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
