"""The replay source: a JSONL or CSV file of mentions into Kafka, as fast as possible or at
N x real time.

Records have the fields of `MentionIn` and take the one ingest path (`Ingestor.accept`):
assessed exactly like pushed mentions (`core/assess.py`, in worker processes), then
de-duplicated, dead-lettered when invalid (unmatched ones are counted) and produced by the
ingestor. Throughput comes from accepting large chunks (one produce per chunk, not per
record) and from pydantic/orjson doing the per-record work in compiled code.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from services.ingest.core.assess import (
    AssessConfig,
    Assessment,
    Assessor,
    Ready,
    Rejected,
    Unmatched,
    parse,
    parse_json,
)
from services.ingest.core.normalize import MentionIn
from services.ingest.core.watchlist import WatchlistStore
from services.ingest.metrics import IngestMetrics
from services.ingest.pipeline import Ingestor, tally
from services.ingest.publisher import MentionPublisher
from services.ingest.watchlist_db import READ_ERRORS, PgWatchlists
from shared.db.engine import create_engine
from shared.dead_letters import DeadLetterWriter
from shared.errors import ConfigError
from shared.kafka import EventProducer
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)

SOURCE = "replay"
BATCH = 5_000
_ENGAGEMENT = ("likes", "shares", "replies", "views")


@dataclass(frozen=True, slots=True)
class ReplayStats:
    """What a replay did and how fast."""

    read: int
    produced: int
    rejected: int
    unmatched: int
    duplicates: int
    seconds: float

    @property
    def rate(self) -> float:
        """Records read per second of wall time."""
        return self.read / self.seconds if self.seconds > 0 else 0.0


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a `MentionIn`-shaped dict (flat engagement columns, `;`-separated lists)."""
    record: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "") and k}
    engagement = {k: int(record.pop(k)) for k in _ENGAGEMENT if k in record}
    for key in _ENGAGEMENT:
        dotted = f"engagement.{key}"
        if dotted in record:
            engagement[key] = int(record.pop(dotted))
    if engagement:
        record["engagement"] = engagement
    for key in ("brands", "hashtags"):
        if key in record:
            record[key] = [p.strip() for p in record[key].split(";") if p.strip()]
    if "author_reach" in record:
        record["author_reach"] = int(record["author_reach"])
    return record


def read_records(path: Path) -> Iterator[tuple[bytes, dict[str, Any] | None]]:
    """Yield (raw bytes, CSV row as a record) per row; JSONL lines come with None (raw only)."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                raw = orjson.dumps(row)
                try:
                    yield raw, _csv_record(row)
                except ValueError:
                    yield raw, {}
        return
    with path.open("rb") as fh:
        for line in fh:
            stripped = line.strip()
            if stripped:
                yield stripped, None


def _count_records(path: Path) -> int:
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return lines - 1 if path.suffix.lower() == ".csv" else lines


def _assess_record(assessor: Assessor, raw: bytes, record: dict[str, Any] | None) -> Assessment:
    item = parse_json(raw) if record is None else parse(record, raw=raw)
    return assessor.assess(item, raw=raw)


_worker_assessor: Assessor | None = None  # one per worker process, set by its initializer


def _init_worker(config: AssessConfig) -> None:
    global _worker_assessor
    _worker_assessor = Assessor(config)


# Between processes a `Ready` travels as a plain tuple: pickling named tuples costs a
# Python call per record each way, a third of the transfer at replay's rates.
_Shipped = Unmatched | Rejected | tuple[str, str, int, bytes, bytes, float]


def _assess_chunk(chunk: list[tuple[bytes, dict[str, Any] | None]]) -> list[_Shipped]:
    assessor = _worker_assessor
    assert assessor is not None, "worker initializer did not run"
    found = [_assess_record(assessor, raw, record) for raw, record in chunk]
    return [
        (a.platform, a.external_id, a.digest, a.key, a.value, a.created_ts)
        if isinstance(a, Ready)
        else a
        for a in found
    ]


def _unship(shipped: list[_Shipped]) -> list[Assessment]:
    return [a if isinstance(a, Unmatched | Rejected) else Ready(*a) for a in shipped]


def _first_created_at(path: Path) -> datetime | None:
    for raw, record in read_records(path):
        item = parse_json(raw) if record is None else parse(record, raw=raw)
        if isinstance(item, MentionIn):
            return item.created_at
    return None


def _chunks(path: Path, size: int) -> Iterator[list[tuple[bytes, dict[str, Any] | None]]]:
    chunk: list[tuple[bytes, dict[str, Any] | None]] = []
    for entry in read_records(path):
        chunk.append(entry)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Sink:
    """Main-process side: paces assessed records and hands them to the ingest path."""

    def __init__(self, ingestor: Ingestor, *, speed: float | None) -> None:
        self.ingestor = ingestor
        self.speed = speed
        self.counts = {"read": 0, "produced": 0, "rejected": 0, "unmatched": 0, "duplicates": 0}
        self.first_ts: float | None = None
        self.started = time.monotonic()

    async def take(self, results: list[Assessment]) -> None:
        if self.speed is None:
            await self._accept(results)
            return
        group: list[Assessment] = []
        for result in results:
            if isinstance(result, Ready):
                wait = self._due_in(result.created_ts)
                if wait > 0.005:
                    await self._accept(group)
                    group = []
                    await asyncio.sleep(wait)
            group.append(result)
        await self._accept(group)

    def _due_in(self, created_ts: float) -> float:
        """Seconds until a record created at `created_ts` is due at `speed` x real time."""
        assert self.speed is not None
        if self.first_ts is None:
            self.first_ts, self.started = created_ts, time.monotonic()
        return (created_ts - self.first_ts) / self.speed - (time.monotonic() - self.started)

    async def _accept(self, group: list[Assessment]) -> None:
        if not group:
            return
        counts = tally(await self.ingestor.accept(group, source=SOURCE))
        self.counts["read"] += len(group)
        self.counts["produced"] += counts["accepted"]
        self.counts["rejected"] += counts["invalid"]
        self.counts["unmatched"] += counts["unmatched"]
        self.counts["duplicates"] += counts["duplicate"]


async def replay(
    ingestor: Ingestor,
    path: Path,
    *,
    speed: float | None,
    rebase: bool,
    progress: Progress | None = None,
    workers: int = 1,
) -> ReplayStats:
    """Stream `path` through `ingestor` (whose producer is started); return the statistics.

    Records are assessed in `workers` processes (0: in this process) while this process
    accepts the previous chunk, so both cores work; at most 2 chunks per worker are in
    flight, which bounds memory.
    """
    if speed is not None and speed <= 0:
        raise ConfigError(f"--speed must be positive, got {speed}")
    task = progress.add_task("replay", total=_count_records(path)) if progress else None
    first = _first_created_at(path)
    offset = datetime.now(UTC) - first if rebase and first is not None else timedelta(0)
    config = replace(ingestor.assess_config(), offset=offset)
    sink = _Sink(ingestor, speed=speed)
    chunk_size = BATCH if speed is None else 200
    started = time.perf_counter()
    if workers <= 0:
        assessor = Assessor(config)
        for chunk in _chunks(path, chunk_size):
            await sink.take([_assess_record(assessor, raw, record) for raw, record in chunk])
            _advance(progress, task, sink)
    else:
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(config,)
        ) as pool:
            in_flight: deque[asyncio.Future[list[_Shipped]]] = deque()
            for chunk in _chunks(path, chunk_size):
                in_flight.append(loop.run_in_executor(pool, _assess_chunk, chunk))
                if len(in_flight) >= 2 * workers:
                    await sink.take(_unship(await in_flight.popleft()))
                    _advance(progress, task, sink)
            while in_flight:
                await sink.take(_unship(await in_flight.popleft()))
                _advance(progress, task, sink)
    return ReplayStats(seconds=time.perf_counter() - started, **sink.counts)


def _advance(progress: Progress | None, task: TaskID | None, sink: _Sink) -> None:
    if progress is not None and task is not None:
        progress.update(task, completed=sink.counts["read"])


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        TextColumn("{task.completed:>9,}/{task.total:,}"),
        TimeElapsedColumn(),
        transient=False,
    )


async def _watchlists(settings: IngestSettings) -> WatchlistStore:
    """The files and the stored watchlists, as the ingest service matches them.

    Without a reachable database the files alone are used (with a warning): replay may run
    where only Kafka is.
    """
    store = WatchlistStore(settings.watchlist_dir, poll_s=settings.watchlist_poll_s)
    store.load()
    engine = create_engine(settings)
    try:
        store.use_stored(PgWatchlists(engine))
        await store.refresh_stored()
    except READ_ERRORS as exc:
        log.warning("stored watchlists not read, matching the files alone: %s", exc)
    finally:
        await engine.dispose()
    return store


async def run_replay(
    settings: IngestSettings,
    path: Path,
    *,
    speed: float | None = None,
    rebase: bool = False,
    progress: bool = True,
    workers: int | None = None,
) -> ReplayStats:
    """Replay `path` into `settings.topic_raw` (entry point of `crisiswatch replay`)."""
    if not path.is_file():  # noqa: ASYNC240 - one stat before a long run
        raise ConfigError(f"{path}: no such file")
    if workers is None:
        workers = 1 if (os.cpu_count() or 1) > 1 else 0  # one decoder beside the producer
    watchlists = await _watchlists(settings)
    producer = EventProducer(
        settings.bootstrap_servers,
        client_id="crisiswatch-replay",
        linger_ms=20,
        send_timeout_s=max(settings.kafka_send_timeout_s, 60.0),
        max_batch_size=1024 * 1024,
    )
    metrics = IngestMetrics(CollectorRegistry())
    publisher = MentionPublisher(
        producer,
        topic=settings.topic_raw,
        dead_letters=DeadLetterWriter(producer, settings.topic_dlq, stage="ingest"),
        metrics=metrics,
    )
    ingestor = Ingestor(
        settings=settings, publisher=publisher, watchlists=watchlists, metrics=metrics
    )
    await producer.start()
    try:
        if not progress:
            return await replay(ingestor, path, speed=speed, rebase=rebase, workers=workers)
        with _progress_bar() as bar:
            stats = await replay(
                ingestor, path, speed=speed, rebase=rebase, progress=bar, workers=workers
            )
        bar.console.print(
            f"replayed {stats.read:,} records in {stats.seconds:.2f}s "
            f"({stats.rate:,.0f}/s): {stats.produced:,} produced, {stats.rejected:,} rejected, "
            f"{stats.unmatched:,} unmatched, {stats.duplicates:,} duplicates"
        )
        return stats
    finally:
        await producer.stop()
