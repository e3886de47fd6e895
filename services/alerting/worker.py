"""The alerting worker: consume `mentions.scored`, detect, store signals and incidents.

Checkpointing: detector state, signals and incident changes are written in one
transaction, then the Kafka offsets of every record they account for are committed. A
crash in between replays records the restored state already holds: open bins drop them
by mention identity, closed bins treat them as late, detectors ignore replayed bins.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.campaigns.calendar import CampaignCalendar, load_calendar
from services.alerting.detect.engine import DetectionEngine
from services.alerting.detect.signals import Decisions
from services.alerting.incidents.store import (
    IncidentChange,
    IncidentHooks,
    open_story_keys,
    propose_recovery,
    record_signal,
)
from services.alerting.metrics import AlertingMetrics
from services.alerting.state import load_brand_state, load_rollups, save_states
from shared import serde
from shared.db.engine import transaction
from shared.errors import InfraError, InvalidRecord
from shared.kafka import DeadLetterWriter, EventConsumer, Record
from shared.schemas import ScoredMention

log = logging.getLogger(__name__)

_DB_ERRORS = (InfraError, DBAPIError, OperationalError, OSError)


class AlertingWorker:
    """Consumer-group member that turns scored mentions into signals and incidents."""

    def __init__(
        self,
        *,
        consumer: EventConsumer,
        engine: AsyncEngine,
        detection: DetectionEngine,
        calendar: CampaignCalendar,
        metrics: AlertingMetrics,
        dead_letters: DeadLetterWriter,
        grouping_window: timedelta,
        checkpoint_s: float = 5.0,
        rebuild_hours: float = 72.0,
        refresh_s: float = 60.0,
        hooks: IncidentHooks | None = None,
        retry_max_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._consumer = consumer
        self._engine = engine
        self._detection = detection
        self._calendar = calendar
        self._metrics = metrics
        self._dead_letters = dead_letters
        self._grouping_window = grouping_window
        self._checkpoint_s = checkpoint_s
        self._rebuild = timedelta(hours=rebuild_hours)
        self._refresh_s = refresh_s
        self._hooks = hooks
        self._retry_max_s = retry_max_s
        self._clock = clock
        self._ready: set[str] = set()
        self._pending: list[Record] = []
        self._decisions = Decisions()
        self._last_checkpoint = 0.0
        self._last_refresh = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Process records until `stop` is set, checkpointing state, incidents and offsets."""
        self._last_checkpoint = self._clock()
        while not stop.is_set():
            if self._clock() - self._last_refresh >= self._refresh_s:
                await self._guarded(self._refresh, stop)
            records = await self._consumer.poll(timeout_ms=250, max_records=500)
            for rec in records:
                await self._observe(rec, stop)
            self._pending += records
            step = self._detection.advance(wall_now=self._clock())
            self._note(step)
            self._decisions.extend(step)
            due = self._clock() - self._last_checkpoint >= self._checkpoint_s
            urgent = bool(self._decisions.signals or self._decisions.recoveries)
            wanted = urgent or (due and bool(self._pending or self._decisions.brands))
            if wanted and not await self._guarded(self._checkpoint, stop):
                return
        if self._pending or self._decisions.brands or self._decisions.signals:
            try:
                await self._checkpoint()
            except _DB_ERRORS as exc:
                log.warning("final checkpoint failed (%s); records will be replayed", exc)

    async def _guarded(self, step: Callable[[], Awaitable[None]], stop: asyncio.Event) -> bool:
        """Run an async DB step, retrying with bounded backoff; False when stopped meanwhile."""
        delay = 0.5
        while True:
            try:
                await step()
                return True
            except _DB_ERRORS as exc:
                log.warning("database step failed (%s); retrying", type(exc).__name__)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                    return False
                except TimeoutError:
                    delay = min(delay * 2, self._retry_max_s)

    async def _refresh(self) -> None:
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        async with transaction(self._engine) as session:
            calendar = await load_calendar(session, since=now - self._rebuild)
            stories = await open_story_keys(session)
        self._calendar = calendar
        self._detection.lift = calendar
        self._detection.open_stories = stories
        self._last_refresh = self._clock()

    async def _observe(self, rec: Record, stop: asyncio.Event) -> None:
        try:
            scored = serde.decode(ScoredMention, rec.value)
        except InvalidRecord as exc:
            self._metrics.dead_lettered.inc()
            await self._dead_letters.send(
                rec.value, exc.reason, source=f"{rec.topic}/{rec.partition}@{rec.offset}"
            )
            return
        for brand in dict.fromkeys(scored.mention.brands):
            if brand not in self._ready:
                init = functools.partial(self._init_brand, brand, scored.mention.created_at)
                await self._guarded(init, stop)
        step = self._detection.observe(scored, wall_now=self._clock())
        self._note(step)
        self._decisions.extend(step)

    async def _init_brand(self, brand: str, first_event: datetime) -> None:
        """Restore a brand's detectors from `detector_state`, or rebuild them from rollups."""
        async with transaction(self._engine) as session:
            rows = await load_brand_state(session, brand)
            if rows:
                self._detection.load(brand, rows, wall_now=self._clock())
                log.info("restored %d detector states for %s", len(rows), brand)
            elif self._rebuild > timedelta(0):
                bins = self._detection.bins
                until = bins.bin_start(first_event.timestamp())
                until_dt = datetime.fromtimestamp(until, tz=UTC)
                minutes = await load_rollups(
                    session, brand, since=until_dt - self._rebuild, until=until_dt
                )
                if minutes:
                    self._detection.replay(brand, minutes, until=until, emit=False)
                    bins.start_brand(brand, next_start=until, wall_now=self._clock())
                    self._decisions.brands.add(brand)
                    log.info("rebuilt %s from %d rollup rows", brand, len(minutes))
        self._ready.add(brand)

    def _note(self, step: Decisions) -> None:
        for gated in step.gated:
            self._metrics.gated.labels(gated.rule).inc()
            log.info("%s %s for %s gated: %s", gated.rule, gated.topic, gated.brand, gated.reason)
        if step.late:
            self._metrics.late.inc(step.late)
        if step.bins:
            self._metrics.bins.inc(step.bins)

    async def _checkpoint(self) -> None:
        """Store signals, incident changes and detector state in one transaction; commit offsets."""
        decisions = self._decisions
        changes: list[tuple[IncidentChange, datetime | None, str]] = []
        async with transaction(self._engine) as session:
            for signal in decisions.signals:
                change = await record_signal(session, signal, grouping_window=self._grouping_window)
                changes.append((change, signal.tipping_ingested_at, signal.rule))
                if self._hooks is not None:
                    await self._hooks(session, change)
            for recovery in decisions.recoveries:
                proposed = await propose_recovery(
                    session,
                    brand=recovery.brand,
                    topic=recovery.topic,
                    at=recovery.at,
                    calm_minutes=recovery.calm_minutes,
                )
                if proposed is not None:
                    self._metrics.recoveries.inc()
                    if self._hooks is not None:
                        await self._hooks(session, proposed)
            states = {}
            for brand in decisions.brands:
                states.update(self._detection.export(brand))
            await save_states(session, states)
            stories = await open_story_keys(session) if decisions.signals else None
        stored = self._clock()
        for change, tipping, rule in changes:
            self._metrics.signals.labels(rule).inc()
            if change.opened:
                self._metrics.incidents_opened.labels(rule, change.severity).inc()
                if tipping is not None:
                    latency = max(0.0, stored - tipping.timestamp())
                    self._metrics.latency.labels(rule).observe(latency)
                log.info("incident %d opened (%s, %s)", change.incident_id, rule, change.severity)
            elif change.kind == "severity_changed":
                self._metrics.incidents_escalated.labels(change.severity).inc()
        if stories is not None:
            self._detection.open_stories = stories
        await self._consumer.commit(self._pending)
        self._pending = []
        self._decisions = Decisions()
        self._last_checkpoint = self._clock()
        for (topic, partition), lag in (await self._consumer.lag()).items():
            self._metrics.lag.labels(self._consumer.group_id, topic, str(partition)).set(lag)
