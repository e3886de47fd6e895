"""The sentiment worker: consume `mentions.raw`, enrich, store, publish, then commit.

Offsets are committed only after the database transaction and the produce succeeded, so a
crash replays the batch; the idempotent store makes the replay a no-op.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
from collections import Counter as CounterOf
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.sentiment.alert_window import AlertWindow
from services.sentiment.core.enrich import Enricher
from services.sentiment.core.prepared import PreparedMention
from services.sentiment.metrics import SentimentMetrics
from services.sentiment.stage import EnrichStage, ThreadStage
from services.sentiment.store import store_prepared
from services.sentiment.stories import (
    StoryAssigner,
    restore_states,
    save_due_states,
    store_stories,
)
from shared import serde
from shared.db.engine import transaction
from shared.dead_letters import DeadLetterWriter
from shared.errors import BrokerUnavailable, CrisiswatchError
from shared.kafka import (
    REQUEST_ID_HEADER,
    EventConsumer,
    EventProducer,
    Header,
    Message,
    Record,
    key_partition,
)
from shared.logging import request_context
from shared.metrics import observe_many
from shared.partitions import TopicPartitions
from shared.resilience import (
    DB_ERRORS,
    Backoff,
    OnDbError,
    StopRequested,
    default_on_db_error,
    describe_db_error,
    fatal,
    retry,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
_LAG_EVERY_S = 5.0  # how often consumer lag is measured


class _Transient(CrisiswatchError):
    """A dependency failed in a way that retrying later can fix."""

    def __init__(self, dependency: str, cause: BaseException) -> None:
        detail = describe_db_error(cause) if isinstance(cause, DB_ERRORS) else type(cause).__name__
        super().__init__(f"{dependency}: {detail}")
        self.dependency = dependency


class SentimentWorker:
    """One consumer-group member; `run()` until `stop` is set."""

    def __init__(
        self,
        *,
        consumer: EventConsumer,
        producer: EventProducer,
        engine: AsyncEngine,
        enricher: Enricher | EnrichStage,
        metrics: SentimentMetrics,
        scored_topic: str,
        dead_letters: DeadLetterWriter,
        group_id: str,
        batch_size: int = 500,
        retry_max_s: float = 30.0,
        on_batch: Callable[[int], None] | None = None,
        on_db_error: OnDbError = default_on_db_error,
        alert_window: AlertWindow | None = None,
        stories: StoryAssigner | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._engine = engine
        self._stage: EnrichStage = (
            ThreadStage(enricher) if isinstance(enricher, Enricher) else enricher
        )
        self._metrics = metrics
        self._scored_topic = scored_topic
        self._dead_letters = dead_letters
        self._group_id = group_id
        self._batch_size = batch_size
        self._retry_max_s = retry_max_s
        self._on_batch = on_batch
        self._on_db_error = on_db_error
        self._alert_window = alert_window
        self._stories = stories
        self._writer = f"{group_id}@{socket.gethostname()}:{os.getpid()}"  # saves story states
        self._held: tuple[str, frozenset[int]] | None = None  # (raw topic, partitions held)

    async def revoked(self, partitions: TopicPartitions) -> None:
        """A rebalance begins: save the stories of every brand changed here, then forget
        them all; each is restored from its save by whichever worker holds it next."""
        if partitions:
            self._held = (partitions[0][0], frozenset())
        if self._stories is not None:
            await save_due_states(self._engine, self._stories, self._writer, now=True)
            self._stories.forget_all()

    async def assigned(self, partitions: TopicPartitions) -> None:
        """The rebalance ended: the partitions this worker holds now."""
        if partitions:
            self._held = (partitions[0][0], frozenset(p for _, p in partitions))

    def _holds(self, brand: str) -> bool:
        """False when `brand`'s partition went to another worker (True before any rebalance)."""
        if self._held is None:
            return True
        topic, held = self._held
        count = self._consumer.partition_count(topic)
        return count is None or key_partition(brand.encode(), count) in held

    @property
    def consumer(self) -> EventConsumer:
        """The consumer of the raw topic (started and stopped by the owner)."""
        return self._consumer

    @property
    def producer(self) -> EventProducer:
        """The producer of the scored and dead-letter topics (started and stopped by the owner)."""
        return self._producer

    @property
    def engine(self) -> AsyncEngine:
        """The database engine (disposed of by the owner)."""
        return self._engine

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until `stop` is set; commit each after its side effects.

        Three stages overlap: a feeder polls and enriches batches, the loop below writes
        them to PostgreSQL, and the batch stored before is published and its offsets
        committed. At most one enriched batch waits for the store, and the feeder blocks
        behind it, so under load batches grow to `batch_size` instead of queueing up while
        the enrichment stays busy. Batches are stored, published and committed in the
        order they were polled.
        """
        enriched: asyncio.Queue[tuple[list[Record], list[PreparedMention]]] = asyncio.Queue(1)
        feeder = asyncio.create_task(self._feed(enriched, stop))
        publishing: asyncio.Task[bool] | None = None
        last_lag = 0.0
        try:
            while True:
                taking = asyncio.ensure_future(enriched.get())
                done, _ = await asyncio.wait({taking, feeder}, timeout=_LAG_EVERY_S,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if taking in done:
                    records, scored = taking.result()
                    kept = await self._until_done(functools.partial(self._store, scored), stop)
                    if kept is None or (publishing is not None and not await publishing):
                        return  # stopping mid-retry: leave offsets uncommitted
                    publishing = asyncio.create_task(self._publish_and_commit(records, kept, stop))
                else:
                    taking.cancel()
                    if feeder in done:
                        feeder.result()  # raises what stopped the feeder, if anything
                        break  # stopping
                now = time.monotonic()
                if now - last_lag > _LAG_EVERY_S:
                    last_lag = now
                    await self._report_lag()
            if publishing is not None:
                await publishing
            if self._stories is not None:  # stopping: what changed since the last save
                await save_due_states(
                    self._engine, self._stories, self._writer, now=True, held=self._holds
                )
        finally:
            pending = [feeder, *([publishing] if publishing is not None else [])]
            for task in pending:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _feed(
        self,
        enriched: asyncio.Queue[tuple[list[Record], list[PreparedMention]]],
        stop: asyncio.Event,
    ) -> None:
        """Poll and enrich batches into `enriched` (in poll order) until `stop` is set.

        With a backlog (the last batch polled was full), up to `concurrent_batches` of the
        stage are enriched at once, so an enrichment process that finished its part of one
        batch starts on the next instead of waiting. Without one, the next poll waits for
        the batch in hand: records gather into one larger batch instead of many small ones
        that would each pay the store's per-batch cost and add latency.
        """
        enriching: deque[tuple[list[Record], asyncio.Task[list[PreparedMention] | None]]]
        enriching = deque()
        backlog = False
        try:
            while not stop.is_set():
                if not enriching or (backlog and len(enriching) < self._stage.concurrent_batches):
                    # Only wait for records when nothing is being enriched.
                    records = await self._consumer.poll(
                        timeout_ms=0 if enriching else 500, max_records=self._batch_size
                    )
                    backlog = len(records) >= self._batch_size
                    if records:
                        step = functools.partial(self._prepare, records)
                        task = asyncio.create_task(self._until_done(step, stop))
                        enriching.append((records, task))
                        continue
                if not enriching:
                    continue
                records, task = enriching.popleft()
                scored = await task
                if scored is None:
                    return
                restore = functools.partial(self._restore_stories, scored)
                if await self._until_done(restore, stop) is None:
                    return
                await enriched.put((records, self._assign_stories(scored)))
        finally:
            for _, task in enriching:
                task.cancel()
            await asyncio.gather(*(task for _, task in enriching), return_exceptions=True)

    async def process(self, records: Sequence[Record]) -> list[PreparedMention]:
        """Decode, enrich, store and publish one batch (raises on retryable failures)."""
        scored = await self._prepare(records)
        await self._restore_stories(scored)
        return await self._publish(await self._store(self._assign_stories(scored)))

    async def _restore_stories(self, batch: list[PreparedMention]) -> bool:
        """Restore the saved stories of the batch's brands this process may not hold yet."""
        if self._stories is not None and batch:
            try:
                restored = await restore_states(self._engine, self._stories, batch)
            except DB_ERRORS as exc:
                raise _Transient("postgres", exc) from exc
            if restored:
                log.info("restored the saved stories of %d brands", restored)
        return True

    def _assign_stories(self, batch: list[PreparedMention]) -> list[PreparedMention]:
        """Put each mention in its story, in poll order (the clusterer's state is here)."""
        if self._stories is None or not batch:
            return batch
        started = time.perf_counter()
        assigned = self._stories.assign(batch)
        self._metrics.stage_seconds.labels("stories").observe(time.perf_counter() - started)
        return assigned

    async def _store_batch(self, session: AsyncSession, batch: list[PreparedMention]) -> None:
        """Store mentions and grow the stories of the new ones, in the caller's transaction."""
        result = await store_prepared(session, batch)
        if self._stories is not None:
            new = [p for p in batch if p.identity in result.new]
            await store_stories(session, self._stories, new)

    async def _publish_and_commit(
        self, records: Sequence[Record], stored: list[PreparedMention], stop: asyncio.Event
    ) -> bool:
        if await self._until_done(functools.partial(self._publish, stored), stop) is None:
            return False
        await self._consumer.commit(records)
        if self._on_batch:
            self._on_batch(len(records))
        return True

    async def _until_done(self, step: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
        """Run `step` until it succeeds, backing off on transient failures; None when stopping.

        The consumer is paused while retrying, so no records pile up behind the outage.
        """
        paused = False

        def before_sleep(exc: BaseException, delay: float, attempt: int) -> None:
            nonlocal paused
            dependency = exc.dependency if isinstance(exc, _Transient) else "unknown"
            self._metrics.retries.labels(dependency).inc()
            log.warning("batch failed (%s unavailable); retrying in %.1fs", exc, delay)
            if not paused:
                self._consumer.pause()
                paused = True

        try:
            return await retry(
                step,
                retry_if=lambda exc: isinstance(exc, _Transient),
                backoff=Backoff(base_s=0.5, cap_s=max(self._retry_max_s, 0.5)),
                stop=stop,
                before_sleep=before_sleep,
            )
        except StopRequested:
            return None
        finally:
            if paused:
                self._consumer.resume()

    async def _prepare(self, records: Sequence[Record]) -> list[PreparedMention]:
        """Decode and enrich a batch; undecodable records go to the dead-letter topic."""
        if not records:
            return []
        self._metrics.batch_size.observe(len(records))
        started = time.perf_counter()
        alert_brands = (
            await self._alert_window.current() if self._alert_window is not None else frozenset()
        )
        batch = await self._stage.enrich([rec.value for rec in records], alert_brands)
        self._metrics.stage_seconds.labels("enrich").observe(time.perf_counter() - started)
        for position, reason in batch.invalid:
            rec = records[position]
            self._metrics.dead_lettered.labels(_reason_code(reason)).inc()
            try:
                with request_context(rec.header(REQUEST_ID_HEADER)):
                    await self._dead_letters.send(
                        rec.value, reason, source=f"{rec.topic}/{rec.partition}@{rec.offset}"
                    )
            except BrokerUnavailable as kafka_exc:
                raise _Transient("kafka", kafka_exc) from kafka_exc
        return _with_request_ids(records, batch.invalid, batch.prepared)

    async def _publish(self, stored: list[PreparedMention]) -> list[PreparedMention]:
        """Publish stored mentions on the scored topic (raises on retryable failures)."""
        if not stored:
            return []
        started = time.perf_counter()
        try:
            await self._producer.send_many(self._scored_topic, _per_brand(stored))
        except BrokerUnavailable as exc:
            raise _Transient("kafka", exc) from exc
        self._metrics.stage_seconds.labels("produce").observe(time.perf_counter() - started)
        self._count(stored)
        return stored

    def _count(self, prepared: list[PreparedMention]) -> None:
        """Metrics per label, language, brand and emotion (one increment per combination)."""
        by_label = CounterOf((p.label, p.language) for p in prepared)
        by_brand = CounterOf((b, p.label) for p in prepared for b in p.brands)
        by_emotion = CounterOf((b, p.emotion) for p in prepared if p.emotion for b in p.brands)
        now = datetime.now(UTC).timestamp()
        latencies = [
            latency
            for p in prepared
            # replays of old history are not pipeline latency
            if 0 <= (latency := now - p.ingested_epoch) < 86_400
        ]
        observe_many(self._metrics.end_to_end_seconds, latencies)
        for counts, metric in (
            (by_label, self._metrics.scored),
            (by_brand, self._metrics.brand_mentions),
            (by_emotion, self._metrics.brand_emotions),
        ):
            for labels, count in counts.items():
                metric.labels(*labels).inc(count)

    async def _store(self, scored: list[PreparedMention]) -> list[PreparedMention]:
        """Store the batch; a record the database refuses is dead-lettered, not retried."""
        if not scored:
            return []
        started = time.perf_counter()
        kept = await self._store_all(scored)
        if self._stories is not None:
            await save_due_states(self._engine, self._stories, self._writer, held=self._holds)
        self._metrics.stage_seconds.labels("store").observe(time.perf_counter() - started)
        return kept

    async def _store_all(self, scored: list[PreparedMention]) -> list[PreparedMention]:
        try:
            async with transaction(self._engine) as session:
                await self._store_batch(session, scored)
            return scored
        except DB_ERRORS as exc:
            self._unless_refused(exc)
            log.warning("database refused a batch (%s); storing one by one", describe_db_error(exc))
        kept: list[PreparedMention] = []
        for one in scored:
            try:
                async with transaction(self._engine) as session:
                    await self._store_batch(session, [one])
                kept.append(one)
            except DB_ERRORS as exc:
                action = self._unless_refused(exc)
                reason = f"database refused the record: {describe_db_error(exc)}"
                if action == "skip":
                    with request_context(one.request_id):
                        log.error("mention skipped: %s", reason)
                    continue
                self._metrics.dead_lettered.labels("database_refused").inc()
                try:
                    with request_context(one.request_id):
                        await self._dead_letters.send(
                            _original_mention(one), reason, source="sentiment-store"
                        )
                except BrokerUnavailable as kafka_exc:
                    raise _Transient("kafka", kafka_exc) from kafka_exc
        return kept

    def _unless_refused(self, exc: Exception) -> str:
        """Raise unless `on_db_error` refuses the data (dead_letter, skip); return the action.

        Transient errors retry the batch (`_Transient`); fatal ones stop the worker.
        """
        action = self._on_db_error(exc)
        if action == "retry":
            raise _Transient("postgres", exc) from exc
        if action == "raise":
            log.critical("sentiment store stopped the worker: %s", describe_db_error(exc))
            raise fatal("sentiment store", exc) from exc
        return action

    async def _report_lag(self) -> None:
        try:
            lags = await self._consumer.lag()
        except Exception as exc:
            log.debug("lag unavailable: %s", exc)
            return
        for (topic, partition), lag in lags.items():
            self._metrics.lag.labels(self._group_id, topic, str(partition)).set(lag)


def _with_request_ids(
    records: Sequence[Record], invalid: list[tuple[int, str]], prepared: list[PreparedMention]
) -> list[PreparedMention]:
    """Each prepared mention with the request id of its record (the stage keeps the order
    of the valid records); unchanged when no record came with one."""
    if not any(rec.headers for rec in records):
        return prepared
    refused = {position for position, _ in invalid}
    valid = (rec for position, rec in enumerate(records) if position not in refused)
    return [
        p._replace(request_id=request_id)
        if (request_id := rec.header(REQUEST_ID_HEADER)) is not None
        else p
        for rec, p in zip(valid, prepared, strict=True)
    ]


def _per_brand(stored: list[PreparedMention]) -> Iterator[Message]:
    """One scored record per brand of each mention, keyed by that brand: a brand's records
    all land in its partition, which one alerting worker owns (the first brand's record
    carries the mention's own key)."""
    for p in stored:
        headers = _headers(p)
        for brand in dict.fromkeys(p.brands):
            yield brand.encode(), p.payload, headers


def _headers(prepared: PreparedMention) -> tuple[Header, ...]:
    """The headers of a scored mention: its push's request id, when it came from one."""
    if prepared.request_id is None:
        return ()
    return ((REQUEST_ID_HEADER, prepared.request_id.encode()),)


def _original_mention(prepared: PreparedMention) -> bytes:
    """The mention inside a prepared payload, as it was on `mentions.raw`."""
    return serde.dumps(serde.loads(prepared.payload)["mention"])


def _reason_code(reason: str) -> str:
    if reason.startswith("invalid JSON"):
        return "invalid_json"
    if "schema_version" in reason:
        return "schema_version"
    return "invalid_schema"
