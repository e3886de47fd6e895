"""Replay a JSONL or CSV file of mentions into Kafka, as fast as possible or at N x real time.

Records have the fields of `MentionIn`. They are normalised and matched exactly like pushed
mentions; invalid ones are dead-lettered with their reason. Throughput comes from producing
in large batches (one await per batch, not per record) and from pydantic/orjson doing the
per-record work in compiled code.
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from services.ingest.core.matching import Matcher
from services.ingest.core.normalize import MentionIn, encode_fields, mention_fields
from services.ingest.core.watchlist import Watchlist, WatchlistStore
from services.ingest.metrics import IngestMetrics
from services.ingest.pipeline import Ingestor, content_digest, resolve_brands
from services.ingest.publisher import MentionPublisher
from shared import serde
from shared.errors import ConfigError
from shared.kafka import DeadLetterWriter, EventProducer
from shared.settings.ingest import IngestSettings

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


@dataclass(frozen=True, slots=True)
class _DecodeConfig:
    watchlists: list[Watchlist]
    configured: bool
    secret: bytes
    keep_handles: bool
    max_chars: int
    offset: timedelta


# (platform, external_id, content digest, brand key, Mention JSON, original created_at seconds)
_Decoded = tuple[str, str, int, bytes, bytes, float]
# (raw bytes, reason, code)
_Refused = tuple[bytes, str, str]


class _Decoder:
    """Turns raw records into encoded `Mention` events; runs inside worker processes."""

    def __init__(self, config: _DecodeConfig) -> None:
        self.config = config
        self.matcher = Matcher(config.watchlists)

    def decode(self, raw: bytes, record: dict[str, Any] | None) -> _Decoded | _Refused:
        config = self.config
        try:
            # JSONL lines are parsed and validated in one pass by pydantic-core.
            item = (
                MentionIn.model_validate_json(raw)
                if record is None
                else MentionIn.model_validate(record)
            )
        except ValidationError as exc:
            return raw, serde.describe_validation_error(exc), "invalid_schema"
        brands = resolve_brands(item, self.matcher, configured=config.configured)
        if not brands:
            return raw, "no watched brand matched this mention", "unmatched"
        try:
            fields = mention_fields(
                item,
                brands=brands,
                secret=config.secret,
                keep_handles=config.keep_handles,
                max_chars=config.max_chars,
                created_at=item.created_at + config.offset,
            )
        except ValueError as exc:
            return raw, str(exc), "invalid_value"
        return (
            item.platform,
            item.external_id,
            content_digest(fields["text"], fields["engagement"]),
            fields["brands"][0].encode(),
            encode_fields(fields),
            item.created_at.timestamp(),
        )


_worker_decoder: _Decoder | None = None  # one per worker process, set by its initializer


def _init_worker(config: _DecodeConfig) -> None:
    global _worker_decoder
    _worker_decoder = _Decoder(config)


def _decode_chunk(chunk: list[tuple[bytes, dict[str, Any] | None]]) -> list[_Decoded | _Refused]:
    decoder = _worker_decoder
    assert decoder is not None, "worker initializer did not run"
    return [decoder.decode(raw, record) for raw, record in chunk]


def _first_created_at(path: Path) -> datetime | None:
    for raw, record in read_records(path):
        try:
            item = (
                MentionIn.model_validate_json(raw)
                if record is None
                else MentionIn.model_validate(record)
            )
        except ValidationError:
            continue
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
    """Main-process side: de-duplicates, paces and produces decoded events in batches."""

    def __init__(self, ingestor: Ingestor, *, speed: float | None) -> None:
        self.ingestor = ingestor
        self.speed = speed
        self.counts = {"read": 0, "produced": 0, "rejected": 0, "unmatched": 0, "duplicates": 0}
        self.pending: list[tuple[bytes, bytes]] = []
        self.first_ts: float | None = None
        self.started = time.monotonic()

    async def take(self, results: list[_Decoded | _Refused]) -> None:
        publisher = self.ingestor.publisher
        for result in results:
            self.counts["read"] += 1
            if len(result) == 3:
                raw, reason, code = result
                if code == "unmatched":
                    self.counts["unmatched"] += 1
                    continue
                self.counts["rejected"] += 1
                await publisher.reject(raw, reason, source=SOURCE, code=code)
                continue
            platform, external_id, digest, key, value, created_ts = result
            fresh = self.ingestor.is_new((platform, external_id), digest)
            if fresh is None:
                self.counts["duplicates"] += 1
                continue
            if fresh is False:
                value = orjson.dumps({**orjson.loads(value), "kind": "updated"})
            self.ingestor.remember_identity((platform, external_id), digest)
            await self._pace(created_ts)
            self.pending.append((key, value))
        await self.flush()

    async def _pace(self, created_ts: float) -> None:
        if self.speed is None:
            return
        if self.first_ts is None:
            self.first_ts, self.started = created_ts, time.monotonic()
        wait = (created_ts - self.first_ts) / self.speed - (time.monotonic() - self.started)
        if wait > 0.005:
            await self.flush()
            await asyncio.sleep(wait)

    async def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            self.counts["produced"] += await self.ingestor.publisher.publish_encoded(
                batch, source=SOURCE
            )


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

    Records are decoded in `workers` processes (0: in this process) while this process
    produces the previous chunk, so both cores work; at most 2 chunks per worker are in
    flight, which bounds memory.
    """
    if speed is not None and speed <= 0:
        raise ConfigError(f"--speed must be positive, got {speed}")
    task = progress.add_task("replay", total=_count_records(path)) if progress else None
    first = _first_created_at(path)
    offset = datetime.now(UTC) - first if rebase and first is not None else timedelta(0)
    settings = ingestor.settings
    config = _DecodeConfig(
        watchlists=ingestor.watchlists.watchlists,
        configured=ingestor.watchlists.configured,
        secret=settings.pseudonym_secret.get_secret_value().encode(),
        keep_handles=settings.keep_raw_handles,
        max_chars=settings.max_text_chars,
        offset=offset,
    )
    sink = _Sink(ingestor, speed=speed)
    chunk_size = BATCH if speed is None else 200
    started = time.perf_counter()
    if workers <= 0:
        decoder = _Decoder(config)
        for chunk in _chunks(path, chunk_size):
            await sink.take([decoder.decode(raw, record) for raw, record in chunk])
            _advance(progress, task, sink)
    else:
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(config,)
        ) as pool:
            in_flight: deque[asyncio.Future[list[_Decoded | _Refused]]] = deque()
            for chunk in _chunks(path, chunk_size):
                in_flight.append(loop.run_in_executor(pool, _decode_chunk, chunk))
                if len(in_flight) >= 2 * workers:
                    await sink.take(await in_flight.popleft())
                    _advance(progress, task, sink)
            while in_flight:
                await sink.take(await in_flight.popleft())
                _advance(progress, task, sink)
    await sink.flush()
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
    watchlists = WatchlistStore(settings.watchlist_dir, poll_s=settings.watchlist_poll_s)
    watchlists.load()
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
