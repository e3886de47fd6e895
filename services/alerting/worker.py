"""The alerting worker: consume `mentions.scored`, detect, store signals and incidents.

Checkpointing: detector state, signals and incident changes are written in one
transaction, then the Kafka offsets of every record they account for are committed. A
crash in between replays records the restored state already holds: open bins drop them
by mention identity, closed bins treat them as late, the spread ledger gives a replayed
`updated` event no second gain, detectors ignore replayed bins.

Partitions (`services.alerting.ownership`): the worker is a `PartitionListener`. Before a
rebalance it checkpoints; on assignment it claims each partition's epoch, forgets the brands
of partitions it lost (or that someone else held meanwhile) and loads the stored state of
the new ones. Each checkpoint writes only for partitions whose epoch it still holds, and
commits offsets only of those, after the transaction.

Database errors (`shared.resilience`): each signal and recovery is written in its own
savepoint, so one the database refuses (a data error) is dead-lettered with the reason and
the rest of the checkpoint commits; transient errors retry the whole checkpoint with
back-off; a fatal one stops the service with `FatalDatabaseError`. `on_db_error` decides
(retry, dead_letter, skip, raise); the default follows `classify_db_error`.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.alerting.brands.store import load_presets, settings_fingerprint
from services.alerting.campaigns.calendar import CampaignCalendar, load_calendar
from services.alerting.detect.engine import DetectionEngine
from services.alerting.detect.signals import Decisions, Recovery, Refresh, RollupMinute, Signal
from services.alerting.detect.spikes import PRESETS
from services.alerting.incidents.store import (
    IncidentChange,
    IncidentHooks,
    merge_converged,
    open_story_keys,
    propose_recovery,
    record_signal,
    refresh_projection,
)
from services.alerting.metrics import AlertingMetrics
from services.alerting.ownership import Partitions, keyed_only, split_owned, stale_partitions
from services.alerting.rebalance import PartitionSteps
from services.alerting.records import recovery_record, signal_record, watched_only
from services.alerting.rules.active import load_active_rules, rules_fingerprint
from services.alerting.state import load_brand_state, load_rollups, save_states
from shared import serde
from shared.db.engine import transaction
from shared.dead_letters import DeadLetterWriter
from shared.errors import BrokerUnavailable, InvalidRecord
from shared.kafka import REQUEST_ID_HEADER, EventConsumer, Record
from shared.logging import request_context
from shared.resilience import (
    DB_ERRORS,
    Backoff,
    OnDbError,
    Refused,
    StopRequested,
    classify_db_error,
    default_on_db_error,
    describe_db_error,
    fatal,
    in_savepoint,
    retry,
)
from shared.schemas import ScoredMention

log = logging.getLogger(__name__)

_CHECKPOINT_SOURCE = "alerting-checkpoint"  # `source` of the signals it dead-letters
_STEP_ERRORS: tuple[type[Exception], ...] = (*DB_ERRORS, BrokerUnavailable)


class AlertingWorker(PartitionSteps):
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
        partitions: Partitions,
        restore_on_assign: bool = True,
        claim_wait_s: float = 10.0,
        checkpoint_s: float = 5.0,
        rebuild_hours: float = 72.0,
        refresh_s: float = 60.0,
        rules_poll_s: float = 5.0,
        hooks: IncidentHooks | None = None,
        retry_max_s: float = 30.0,
        on_db_error: OnDbError = default_on_db_error,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._consumer = consumer
        self._engine = engine
        self._detection = detection
        self._calendar = calendar
        self._metrics = metrics
        self._dead_letters = dead_letters
        self._grouping_window = grouping_window
        self._init_partitions(
            partitions, restore_on_assign=restore_on_assign, claim_wait_s=claim_wait_s
        )
        self._checkpoint_s = checkpoint_s
        self._rebuild = timedelta(hours=rebuild_hours)
        self._refresh_s = refresh_s
        self._rules_poll_s = rules_poll_s
        self._rules_fingerprint: str | None = None
        self._settings_fingerprint: str | None = None
        self._last_rules_poll = -float("inf")
        self._hooks = hooks
        self._retry_max_s = retry_max_s
        self._on_db_error = on_db_error
        self._clock = clock
        self._ready: set[str] = set()
        self._pending: list[Record] = []
        self._decisions = Decisions()
        self._last_checkpoint = 0.0
        self._last_refresh = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Process records until `stop` is set, checkpointing state, incidents and offsets."""
        self._last_checkpoint = self._clock()
        self._stop = stop
        while not stop.is_set():
            records = await self._consumer.poll(timeout_ms=250, max_records=500)
            if self._failure is not None:
                raise self._failure
            async with self._lock:
                if not await self._step(records, stop):
                    return
        async with self._lock:
            await self._flush("final checkpoint failed")

    async def _step(self, records: list[Record], stop: asyncio.Event) -> bool:
        """Observe the records of held partitions, advance, checkpoint; False on stop."""
        if self._clock() - self._last_refresh >= self._refresh_s:
            await self._guarded(self._refresh, stop, "refresh")
        if self._clock() - self._last_rules_poll >= self._rules_poll_s:
            await self._guarded(self._reload_rules, stop, "rules reload")
            await self._guarded(self._reload_presets, stop, "brand settings reload")
        if not self._assigned.is_set():
            return True  # a rebalance is under way: the records replay once assigned
        records = [rec for rec in records if self._partitions.owns(rec.partition)]
        for rec in records:
            await self._observe(rec, stop)
        self._pending += records
        step = self._detection.advance(wall_now=self._clock())
        self._note(step)
        self._decisions.extend(step)
        due = self._clock() - self._last_checkpoint >= self._checkpoint_s
        urgent = bool(self._decisions.signals or self._decisions.recoveries)
        wanted = urgent or (due and bool(self._pending or self._decisions.brands))
        return not wanted or await self._guarded(self._checkpoint, stop, "checkpoint")

    async def _flush(self, failed: str) -> None:
        """Checkpoint what is pending, once; a failure leaves the records to be replayed."""
        if self._pending or self._decisions.brands or self._decisions.signals:
            try:
                await self._checkpoint()
            except _STEP_ERRORS as exc:
                self._count(exc)
                log.warning("%s (%s); records will be replayed", failed, _what(exc))

    async def _guarded(
        self, step: Callable[[], Awaitable[None]], stop: asyncio.Event, what: str
    ) -> bool:
        """Run a database step until it succeeds, backing off on transient errors.

        False when `stop` was set while waiting to retry. An error `on_db_error` does not
        want retried stops the worker with `FatalDatabaseError`.
        """
        try:
            await retry(
                step,
                retry_if=self._retryable,
                backoff=Backoff(base_s=0.5, cap_s=max(self._retry_max_s, 0.5)),
                stop=stop,
                before_sleep=functools.partial(_log_retry, what),
            )
        except StopRequested:
            return False
        except DB_ERRORS as exc:
            log.critical("alerting %s stopped the worker: %s", what, describe_db_error(exc))
            raise fatal(f"alerting {what}", exc) from exc
        return True

    def _retryable(self, exc: BaseException) -> bool:
        """Count a failed step's error; True when it is retried (Kafka down is transient)."""
        if isinstance(exc, BrokerUnavailable):
            return True
        if not isinstance(exc, DB_ERRORS):
            return False
        self._count(exc)
        return self._on_db_error(exc) == "retry"

    def _count(self, exc: BaseException) -> None:
        if isinstance(exc, DB_ERRORS):
            self._metrics.db_errors.labels(classify_db_error(exc)).inc()

    async def _refresh(self) -> None:
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        async with transaction(self._engine) as session:
            calendar = await load_calendar(session, since=now - self._rebuild)
            # Stories the sentiment side merged since: their open incidents become one.
            for change in await merge_converged(session):
                if self._hooks is not None:
                    await self._hooks(session, change)
            stories = await open_story_keys(session)
        self._calendar = calendar
        self._detection.lift = calendar
        self._detection.open_stories = stories
        self._last_refresh = self._clock()

    async def _reload_rules(self) -> None:
        """Load the stored rules when they changed (bounded staleness: `rules_poll_s`)."""
        self._last_rules_poll = self._clock()
        async with transaction(self._engine) as session:
            fingerprint = await rules_fingerprint(session)
            if fingerprint == self._rules_fingerprint:
                return
            rules, refused = await load_active_rules(session)
        self._detection.rules.replace(rules)
        self._rules_fingerprint = fingerprint
        self._metrics.rules_loaded.set(len(rules))
        for name, reason in refused:
            self._rule_broken(name, reason)
        log.info("rules reloaded: %d enabled, %d refused", len(rules), len(refused))

    async def _reload_presets(self) -> None:
        """Apply the brands' stored presets when they changed (polled with the rules)."""
        async with transaction(self._engine) as session:
            fingerprint = await settings_fingerprint(session)
            if fingerprint == self._settings_fingerprint:
                return
            stored = await load_presets(session)
        presets = {brand: name for brand, name in stored.items() if name in PRESETS}
        for brand in sorted(set(stored) - set(presets)):
            log.error("brand %r: unknown preset %r ignored", brand, stored[brand])
        changed = self._detection.set_presets(presets)
        self._settings_fingerprint = fingerprint
        self._metrics.brand_presets.clear()
        for name in dict.fromkeys(presets.values()):
            self._metrics.brand_presets.labels(name).set(list(presets.values()).count(name))
        if changed:
            log.info(
                "brand presets changed: %s", {b: self._detection.preset_of(b) for b in changed}
            )

    def _rule_broken(self, name: str, reason: str) -> None:
        self._metrics.rule_errors.labels(name).inc()
        log.error("rule %r skipped: %s", name, reason)

    async def _observe(self, rec: Record, stop: asyncio.Event) -> None:
        try:
            scored = serde.decode(ScoredMention, rec.value)
        except InvalidRecord as exc:
            self._metrics.dead_lettered.inc()
            with request_context(rec.header(REQUEST_ID_HEADER)):
                await self._dead_letters.send(
                    rec.value, exc.reason, source=f"{rec.topic}/{rec.partition}@{rec.offset}"
                )
            return
        watched = watched_only(keyed_only(scored, rec.key))
        if watched is None:
            return  # only tracked competitors: counted for share of voice, not alerted on
        scored = watched
        for brand in dict.fromkeys(scored.mention.brands):
            self._partitions.note(brand, rec.partition)
            if brand not in self._ready:
                init = functools.partial(self._init_brand, brand, scored.mention.created_at)
                await self._guarded(init, stop, "restore")
        step = self._detection.observe(scored, wall_now=self._clock())
        self._note(step)
        self._decisions.extend(step)

    async def _init_brand(self, brand: str, first_event: datetime) -> None:
        """Restore a brand's detectors from `detector_state`, or rebuild them from rollups.

        A brand name the database refuses to look up (a data error) starts fresh detectors.
        """
        try:
            await self._restore(brand, first_event)
        except DB_ERRORS as exc:
            if self._on_db_error(exc) not in ("dead_letter", "skip"):
                raise
            self._count(exc)
            log.error("brand %r not restored (%s): fresh detectors", brand, _what(exc))
        self._ready.add(brand)

    async def _restore(self, brand: str, first_event: datetime) -> None:
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
                    await self._replay_rollups(brand, minutes, until)
                    bins.start_brand(brand, next_start=until, wall_now=self._clock())
                    self._decisions.brands.add(brand)
                    log.info("rebuilt %s from %d rollup rows", brand, len(minutes))

    async def _replay_rollups(self, brand: str, minutes: list[RollupMinute], until: float) -> None:
        """Rebuild a brand from its rollups an hour at a time, yielding to the event loop in
        between: days of history must not stall Kafka heartbeats or the producer."""
        minutes = sorted(minutes, key=lambda row: row.start)
        span = 3600.0
        start, first = minutes[0].start, 0
        # Topics without a mention all replay the same zeros: one detector stands for them.
        twins = self._detection.quiet_twins(brand, {row.topic for row in minutes})
        try:
            while start < until:
                end = min(start + span, until)
                last = bisect.bisect_left(minutes, end, lo=first, key=lambda row: row.start)
                part = minutes[first:last]
                self._detection.replay(brand, part, since=start, until=end, emit=False, twins=twins)
                first, start = last, end
                await asyncio.sleep(0)
        finally:
            self._detection.copy_twins(brand, twins)

    def _note(self, step: Decisions) -> None:
        for name, reason in step.broken_rules:
            self._rule_broken(name, reason)
        for gated in step.gated:
            self._metrics.gated.labels(gated.rule).inc()
            log.info("%s %s for %s gated: %s", gated.rule, gated.topic, gated.brand, gated.reason)
        if step.late:
            self._metrics.late.inc(step.late)
        if step.bins:
            self._metrics.bins.inc(step.bins)

    async def _checkpoint(self) -> None:
        """Store signals, incident changes and detector state in one transaction; commit offsets.

        Each signal and recovery has its own savepoint: one the database refuses is rolled
        back alone and dead-lettered with the reason, and the rest commits.
        """
        parts = self._partitions
        changes: list[tuple[IncidentChange, datetime | None, str]] = []
        recoveries = 0
        regrades: list[str] = []  # severities raised by refreshed projections
        async with transaction(self._engine) as session:
            # Fencing: share-lock the epochs first; nothing is written for a lost partition.
            stale = await stale_partitions(session, parts.topic, parts.held)
            owned = {b for b, p in parts.brands.items() if p in parts.held and p not in stale}
            decisions, fenced = split_owned(self._decisions, owned)
            for signal in decisions.signals:
                store = functools.partial(self._store_signal, session, signal)
                change = await in_savepoint(session, store, on_db_error=self._on_db_error)
                if isinstance(change, Refused):
                    await self._refused(change, "signal", signal_record(signal))
                else:
                    changes.append((change, signal.tipping_ingested_at, signal.rule))
            for recovery in decisions.recoveries:
                propose = functools.partial(self._propose, session, recovery)
                proposed = await in_savepoint(session, propose, on_db_error=self._on_db_error)
                if isinstance(proposed, Refused):
                    await self._refused(proposed, "recovery", recovery_record(recovery))
                elif proposed is not None:
                    recoveries += 1
            for refresh in decisions.refreshes:
                update = functools.partial(self._regrade, session, refresh)
                regraded = await in_savepoint(session, update, on_db_error=self._on_db_error)
                if not isinstance(regraded, Refused):
                    regrades.extend(change.severity for change in regraded)
            await self._save_states(session, decisions.brands)
            stories = await open_story_keys(session) if decisions.signals else None
        stored = self._clock()
        if recoveries:
            self._metrics.recoveries.inc(recoveries)
        for severity in regrades:
            self._metrics.incidents_escalated.labels(severity).inc()
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
        if stale or fenced.signals or fenced.recoveries or fenced.brands:
            self._fenced(stale, fenced)
        await self._consumer.commit([r for r in self._pending if parts.owns(r.partition)])
        self._pending = []
        self._decisions = Decisions()
        self._last_checkpoint = self._clock()
        for (topic, partition), lag in (await self._consumer.lag()).items():
            self._metrics.lag.labels(self._consumer.group_id, topic, str(partition)).set(lag)

    async def _store_signal(self, session: AsyncSession, signal: Signal) -> IncidentChange:
        change = await record_signal(session, signal, grouping_window=self._grouping_window)
        if self._hooks is not None:
            await self._hooks(session, change)
        return change

    async def _regrade(self, session: AsyncSession, refresh: Refresh) -> list[IncidentChange]:
        """Refresh the story's projection; run the hooks of the incidents it re-graded."""
        changes = await refresh_projection(session, refresh)
        if self._hooks is not None:
            for change in changes:
                await self._hooks(session, change)
        return changes

    async def _propose(self, session: AsyncSession, recovery: Recovery) -> IncidentChange | None:
        proposed = await propose_recovery(
            session,
            brand=recovery.brand,
            topic=recovery.topic,
            at=recovery.at,
            calm_minutes=recovery.calm_minutes,
        )
        if proposed is not None and self._hooks is not None:
            await self._hooks(session, proposed)
        return proposed

    async def _save_states(self, session: AsyncSession, brands: set[str]) -> None:
        """Save the brands' detector states; brand by brand when the database refuses them.

        Detector state is no record to replay: a brand whose state is refused keeps its
        detectors in memory and is rebuilt from the rollups after a restart.
        """
        groups = [sorted(brands)]
        while groups:
            group = groups.pop()
            states: dict[str, dict[str, Any]] = {}
            for brand in group:
                states.update(self._detection.export(brand))
            save = functools.partial(save_states, session, states)
            saved = await in_savepoint(session, save, on_db_error=self._on_db_error)
            if not isinstance(saved, Refused):
                continue
            if len(group) > 1:
                groups += [[brand] for brand in group]
                continue
            self._metrics.db_errors.labels(saved.kind).inc()
            log.error("detector state of %r not saved: %s", group[0], saved.reason)

    async def _refused(self, refused: Refused, what: str, record: dict[str, Any]) -> None:
        """Dead-letter (or skip) what the database refused, before the checkpoint commits.

        If the commit then fails, the retry meets the same refusal and sends the letter
        again: at least once, like every dead letter.
        """
        self._metrics.db_errors.labels(refused.kind).inc()
        reason = f"database refused the {what}: {refused.reason}"
        if refused.action == "skip":
            log.error("%s of %r skipped: %s", what, record.get("brand"), reason)
            return
        self._metrics.dead_lettered.inc()
        await self._dead_letters.send(serde.dumps(record), reason, source=_CHECKPOINT_SOURCE)


def _what(exc: BaseException) -> str:
    return describe_db_error(exc) if isinstance(exc, DB_ERRORS) else str(exc)


def _log_retry(what: str, exc: BaseException, delay: float, attempt: int) -> None:
    log.warning(
        "alerting %s failed (attempt %d: %s); retrying in %.1fs", what, attempt, _what(exc), delay
    )
