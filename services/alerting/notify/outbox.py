"""Transactional outbox: enqueue notifications with the incident change, deliver them later.

`enqueue` runs inside the caller's transaction, so a notification exists exactly when the
incident change committed. `OutboxDispatcher` delivers in two phases, never holding a
transaction open while it talks to Slack or SMTP:

1. `claim`: a short transaction takes due rows with `FOR UPDATE SKIP LOCKED` and marks them
   `sending`, with the dispatcher's id and a lease (`next_attempt_at`); several dispatchers
   never claim the same row.
2. `deliver` outside any transaction, then `settle` each row (sent, retry with back-off,
   failed) in a second transaction, fenced on the claim: a dispatcher whose lease was taken
   over changes nothing.

A dispatcher that dies between sending and settling leaves its rows `sending`; once the lease
expires, any dispatcher claims them again *in doubt* (as it does rows whose attempt ended in
a timeout). An in-doubt row is first checked with the channel when it can tell
(`DeliveryCheck`, the Slack Web API; see `delivery.recover`) and only resent when it was not
delivered. Otherwise it is resent with the same idempotency key: webhook receivers drop the
repeat, email repeats the `Message-ID`, and a Slack incoming webhook may show it twice, which
the incident timeline (`notification_recovered`) and `crisiswatch_notify_recoveries_total`
record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.alerting.notify.channels.base import (
    DeliveryError,
    Notifier,
    TransientDeliveryError,
)
from services.alerting.notify.delivery import Attempt, ClaimedRow, OutboxMetrics, recover
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, OutboxRow
from shared.resilience import (
    DB_ERRORS,
    Backoff,
    OnDbError,
    Refused,
    default_on_db_error,
    describe_db_error,
    fatal,
    in_savepoint,
    wait_or_stop,
)
from shared.settings.notify import NotifySettings

log = logging.getLogger(__name__)

OutboxStatus = Literal["pending", "held"]


async def enqueue(
    session: AsyncSession,
    *,
    incident_id: int | None,
    channel: str,
    dedupe_key: str,
    payload: dict[str, Any],
    status: OutboxStatus = "pending",
) -> int | None:
    """Insert a notification in the caller's transaction; return its id, None if a duplicate."""
    stmt = (
        insert(OutboxRow)
        .values(
            incident_id=incident_id,
            channel=channel,
            dedupe_key=dedupe_key[:256],
            payload=payload,
            status=status,
            attempts=0,
        )
        .on_conflict_do_nothing(constraint="uq_outbox_dedupe_key")
        .returning(OutboxRow.id)
    )
    row_id = (await session.execute(stmt)).scalar_one_or_none()
    return int(row_id) if row_id is not None else None


def backoff_delay(
    attempts: int, *, base_s: float, max_s: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds before attempt `attempts + 1`: full jitter under `base_s * 2^(n-1)`, capped."""
    return Backoff(base_s=base_s, cap_s=max_s, rng=rng).delay(attempts - 1)


def _dispatcher_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OutboxDispatcher:
    """Delivers due outbox rows through the configured notifiers, with bounded retries."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        notifiers: Mapping[str, Notifier],
        metrics: OutboxMetrics,
        batch_size: int = 20,
        max_attempts: int = 8,
        backoff_base_s: float = 2.0,
        backoff_max_s: float = 600.0,
        poll_interval_s: float = 1.0,
        lease_s: float = 120.0,
        dispatcher_id: str | None = None,
        on_db_error: OnDbError = default_on_db_error,
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self._engine = engine
        self._notifiers = dict(notifiers)
        self._metrics = metrics
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._poll_interval_s = poll_interval_s
        self._lease = timedelta(seconds=lease_s)
        # An attempt must end well inside its lease, or another dispatcher may take it over
        # and send while this one still waits for an answer.
        self._deadline_s = lease_s / 2
        self.dispatcher_id = (dispatcher_id or _dispatcher_id())[:64]
        self._paused_until: dict[str, float] = {}
        self._on_db_error = on_db_error

    @classmethod
    def from_settings(
        cls,
        settings: NotifySettings,
        *,
        engine: AsyncEngine,
        notifiers: Mapping[str, Notifier],
        metrics: OutboxMetrics,
    ) -> OutboxDispatcher:
        """Build a dispatcher with the batch, retry, lease and poll settings of `settings`."""
        return cls(
            engine=engine,
            notifiers=notifiers,
            metrics=metrics,
            batch_size=settings.outbox_batch_size,
            max_attempts=settings.outbox_max_attempts,
            backoff_base_s=settings.outbox_backoff_base_s,
            backoff_max_s=settings.outbox_backoff_max_s,
            poll_interval_s=settings.outbox_poll_interval_s,
            lease_s=settings.outbox_lease_s,
        )

    async def start(self) -> None:
        """Start every notifier (and export its delivery series)."""
        self._metrics.prime(self._notifiers)
        for notifier in self._notifiers.values():
            await notifier.start()

    async def stop(self) -> None:
        """Stop every notifier."""
        for notifier in self._notifiers.values():
            await notifier.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a database outage pauses delivery, nothing is lost.

        Transient database errors back off; others stop the service (`FatalDatabaseError`).
        One row's data error never gets here: `settle` marks that row failed.
        """
        outage = Backoff(base_s=self._poll_interval_s, cap_s=max(30.0, self._poll_interval_s))
        while not stop.is_set():
            delay = self._poll_interval_s
            try:
                handled = await self.dispatch_once()
                outage.reset()
            except DB_ERRORS as exc:
                if self._on_db_error(exc) != "retry":
                    log.critical("outbox dispatch stopped: %s", describe_db_error(exc))
                    raise fatal("outbox dispatch", exc) from exc
                handled = 0
                delay = outage.next_delay()
                log.warning(
                    "outbox dispatch failed (%s); retrying in %.1fs", describe_db_error(exc), delay
                )
            if handled < self._batch_size and await wait_or_stop(stop, delay):
                return

    def _ready_channels(self) -> list[str]:
        now = asyncio.get_running_loop().time()
        return [ch for ch in self._notifiers if self._paused_until.get(ch, 0.0) <= now]

    async def dispatch_once(self) -> int:
        """Claim, deliver and settle one batch of due rows; return how many were handled."""
        rows = await self.claim()
        if not rows:
            return 0
        attempts = await self.deliver(rows)
        await self.settle(rows, attempts)
        return len(rows)

    async def claim(self) -> list[ClaimedRow]:
        """Lease due rows (pending, or sending with an expired lease) in a short transaction."""
        channels = self._ready_channels()
        if not channels:
            return []
        async with transaction(self._engine) as session:
            due = (
                select(OutboxRow.id, OutboxRow.status, OutboxRow.claimed_by, OutboxRow.last_error)
                .where(
                    OutboxRow.status.in_(("pending", "sending")),
                    OutboxRow.next_attempt_at <= func.now(),
                    OutboxRow.channel.in_(channels),
                )
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            )
            found = {r.id: r for r in (await session.execute(due)).all()}
            if not found:
                return []
            leased = (
                update(OutboxRow)
                .where(OutboxRow.id.in_(list(found)))
                .values(
                    status="sending",
                    attempts=OutboxRow.attempts + 1,
                    claimed_by=self.dispatcher_id,
                    # A row still `sending` here was abandoned mid-attempt by a dispatcher.
                    in_doubt=or_(OutboxRow.in_doubt, OutboxRow.status == "sending"),
                    first_attempt_at=func.coalesce(OutboxRow.first_attempt_at, func.now()),
                    next_attempt_at=func.now() + self._lease,
                )
                .returning(
                    OutboxRow.id,
                    OutboxRow.incident_id,
                    OutboxRow.channel,
                    OutboxRow.dedupe_key,
                    OutboxRow.payload,
                    OutboxRow.attempts,
                    OutboxRow.created_at,
                    OutboxRow.first_attempt_at,
                    OutboxRow.in_doubt,
                )
                .execution_options(synchronize_session=False)
            )
            claimed = []
            for r in (await session.execute(leased)).all():
                before = found[r.id]
                doubt = None
                if before.status == "sending":
                    doubt = f"attempt {r.attempts - 1} by {before.claimed_by} was interrupted"
                    log.warning("notification %d on %s: %s; recovering", r.id, r.channel, doubt)
                elif r.in_doubt:
                    doubt = f"an earlier attempt may have been delivered ({before.last_error})"
                claimed.append(
                    ClaimedRow(
                        r.id,
                        r.incident_id,
                        r.channel,
                        r.dedupe_key,
                        r.payload,
                        r.attempts,
                        r.created_at,
                        r.first_attempt_at,
                        r.in_doubt,
                        doubt,
                    )
                )
        return sorted(claimed, key=lambda c: c.id)

    async def deliver(self, rows: Sequence[ClaimedRow]) -> list[Attempt]:
        """Deliver claimed rows outside any transaction: concurrently, except that the rows
        of one incident on one channel go in order, so its thread's opening comes first."""
        queues: dict[tuple[int, str], list[int]] = {}
        for i, row in enumerate(rows):
            who = row.incident_id if row.incident_id is not None else -row.id
            queues.setdefault((who, row.channel), []).append(i)
        attempts: dict[int, Attempt] = {}

        async def in_order(indexes: list[int]) -> None:
            for i in indexes:
                attempts[i] = await self._deliver(rows[i])

        await asyncio.gather(*(in_order(q) for q in queues.values()))
        return [attempts[i] for i in range(len(rows))]

    async def _deliver(self, row: ClaimedRow) -> Attempt:
        try:
            async with asyncio.timeout(self._deadline_s):
                return await self._attempt(row)
        except TimeoutError:
            error = TransientDeliveryError(
                f"{row.channel}: no answer within {self._deadline_s:g}s", maybe_delivered=True
            )
            return Attempt(error)

    async def _attempt(self, row: ClaimedRow) -> Attempt:
        recovery = None
        if row.in_doubt:
            recovery = await recover(self._notifiers[row.channel], row)
            if recovery.outcome == "confirmed":
                return Attempt(None, recovery)
            if row.attempts > self._max_attempts:
                # Only a recovered row gets here: the interrupted attempt was the last one.
                return Attempt(
                    DeliveryError(f"{row.channel}: no attempt left after an interrupted one"),
                    recovery,
                )
        return Attempt(await self._send(row), recovery)

    async def _send(self, row: ClaimedRow) -> DeliveryError | None:
        try:
            await self._notifiers[row.channel].send(row.payload, idempotency_key=row.dedupe_key)
        except DeliveryError as exc:
            return exc
        except (KeyError, TypeError, ValueError) as exc:
            # A payload the notifier cannot render will never succeed: fail it, don't loop.
            return DeliveryError(f"{row.channel}: malformed payload ({type(exc).__name__})")
        return None

    async def settle(self, rows: Sequence[ClaimedRow], attempts: Sequence[Attempt]) -> None:
        """Record the outcome of each attempt in one transaction, each row in a savepoint.

        A row whose outcome the database refuses (a data error, e.g. in an error text) is
        marked failed, or sent when it was delivered, with the reason, and never retried.
        """
        async with transaction(self._engine) as session:
            now = await session.scalar(select(func.now()))
            for row, attempt in zip(rows, attempts, strict=True):
                write = functools.partial(self._write_outcome, session, row, attempt)
                written = await in_savepoint(session, write, on_db_error=self._on_db_error)
                if isinstance(written, Refused):
                    written = await self._write_refused(session, row, attempt, written.reason)
                if written is not None:
                    self._count(row, attempt, written, now)

    def _outcome(self, row: ClaimedRow, attempt: Attempt) -> tuple[str, dict[str, Any]]:
        """The outcome of an attempt and the row's new values."""
        error = attempt.error
        if error is None:
            return "sent", {"status": "sent", "sent_at": func.now(), "last_error": None}
        if isinstance(error, TransientDeliveryError) and row.attempts < self._max_attempts:
            delay = backoff_delay(
                row.attempts, base_s=self._backoff_base_s, max_s=self._backoff_max_s
            )
            if error.retry_after_s is not None:
                delay = max(delay, error.retry_after_s)
                self._paused_until[row.channel] = (
                    asyncio.get_running_loop().time() + error.retry_after_s
                )
            return "retry", {
                "status": "pending",
                "next_attempt_at": func.now() + timedelta(seconds=delay),
                "last_error": str(error),
                "in_doubt": row.in_doubt or error.maybe_delivered,
            }
        return "failed", {"status": "failed", "last_error": str(error)}

    async def _fenced(self, session: AsyncSession, row: ClaimedRow, values: dict[str, Any]) -> bool:
        # Fenced on the claim: if the lease expired and another dispatcher took the row over,
        # its attempt is the one that counts.
        settled = await session.scalar(
            update(OutboxRow)
            .where(
                OutboxRow.id == row.id,
                OutboxRow.status == "sending",
                OutboxRow.claimed_by == self.dispatcher_id,
                OutboxRow.attempts == row.attempts,
            )
            .values(claimed_by=None, **values)
            .returning(OutboxRow.id)
            .execution_options(synchronize_session=False)
        )
        return settled is not None

    async def _write_refused(
        self, session: AsyncSession, row: ClaimedRow, attempt: Attempt, reason: str
    ) -> str | None:
        """Settle a row whose outcome the database refused: no retry, the reason kept."""
        outcome = "sent" if attempt.error is None else "failed"
        log.error("notification %d on %s: outcome refused (%s)", row.id, row.channel, reason)
        error = f"database refused: {reason}"
        values: dict[str, Any] = {"status": outcome, "last_error": error}
        if outcome == "sent":
            values["sent_at"] = func.now()
        if not await self._fenced(session, row, values):
            return None
        if row.incident_id is not None:
            kind = "notified" if outcome == "sent" else "notification_failed"
            data = {"channel": row.channel, "attempts": row.attempts, "error": error}
            session.add(
                IncidentEventRow(incident_id=row.incident_id, kind=kind, actor="system", data=data)
            )
        return outcome

    async def _write_outcome(
        self, session: AsyncSession, row: ClaimedRow, attempt: Attempt
    ) -> str | None:
        """Write an attempt's outcome and its timeline events; None when the lease was lost."""
        outcome, values = self._outcome(row, attempt)
        error = attempt.error
        if not await self._fenced(session, row, values):
            log.warning(
                "notification %d on %s: lease lost before settling attempt %d (%s)",
                row.id,
                row.channel,
                row.attempts,
                outcome,
            )
            return None
        if outcome == "retry" or row.incident_id is None:
            return outcome
        recovery = attempt.recovery
        base = {"channel": row.channel, "dedupe_key": row.dedupe_key, "attempts": row.attempts}
        if recovery is not None:
            session.add(
                IncidentEventRow(
                    incident_id=row.incident_id,
                    kind="notification_recovered",
                    actor="system",
                    data={
                        **base,
                        "outcome": recovery.outcome,
                        "resent": recovery.outcome != "confirmed",
                        "possibly_repeated": recovery.possibly_repeated,
                        "reason": recovery.reason,
                    },
                )
            )
        session.add(
            IncidentEventRow(
                incident_id=row.incident_id,
                kind="notified" if outcome == "sent" else "notification_failed",
                actor="system",
                data={**base, **({"error": str(error)} if error else {})},
            )
        )
        return outcome

    def _count(self, row: ClaimedRow, attempt: Attempt, outcome: str, now: datetime | None) -> None:
        """Metrics and log lines of a settled attempt (after its savepoint was written)."""
        if outcome == "failed":
            log.error(
                "notification %d on %s failed for good: %s", row.id, row.channel, attempt.error
            )
        self._metrics.deliveries.labels(row.channel, outcome).inc()
        if outcome == "sent" and now is not None:
            self._metrics.latency.labels(row.channel).observe(
                max((now - row.created_at).total_seconds(), 0.0)
            )
        recovery = attempt.recovery
        if outcome == "retry" or recovery is None:
            return
        self._metrics.recoveries.labels(row.channel, recovery.outcome).inc()
        if recovery.possibly_repeated and outcome == "sent":
            log.warning(
                "notification %d on %s resent after an interrupted attempt (%s): "
                "it may have been delivered twice",
                row.id,
                row.channel,
                recovery.outcome,
            )
