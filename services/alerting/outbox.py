"""Transactional outbox: enqueue notifications with the incident change, deliver them later.

`enqueue` runs inside the caller's transaction, so a notification exists exactly when the
incident change committed. `OutboxDispatcher` claims due rows with `FOR UPDATE SKIP LOCKED`,
sends them and marks them sent in the same transaction: several dispatchers never send the
same row, and a crash before commit only re-sends rows whose idempotency key (webhook
`Idempotency-Key`, email `Message-ID`) lets the receiver drop the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.alerting.notifiers.base import (
    DeliveryError,
    Notifier,
    TransientDeliveryError,
)
from services.alerting.notifiers.config import NotifySettings
from shared.db.engine import transaction
from shared.db.models import IncidentEventRow, OutboxRow
from shared.errors import InfraError

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


def backoff_delay(attempts: int, *, base_s: float, max_s: float) -> float:
    """Seconds to wait before attempt `attempts + 1`: exponential, capped at `max_s`."""
    return float(min(max_s, base_s * 2 ** max(attempts - 1, 0)))


class OutboxMetrics:
    """Deliveries per channel and outcome (sent, retry, failed), and time to delivery."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "crisiswatch_notify_deliveries_total",
            "Notification delivery attempts, per channel and outcome (sent, retry, failed).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "crisiswatch_notify_delivery_seconds",
            "Seconds from enqueue to successful delivery, per channel.",
            ["channel"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )

    def prime(self, channels: Iterable[str]) -> None:
        """Export zero-valued series for each configured channel, so rates and alerts evaluate."""
        for channel in channels:
            for outcome in ("sent", "retry", "failed"):
                self.deliveries.labels(channel, outcome)
            self.latency.labels(channel)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    incident_id: int | None
    channel: str
    dedupe_key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


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
    ) -> None:
        self._engine = engine
        self._notifiers = dict(notifiers)
        self._metrics = metrics
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._poll_interval_s = poll_interval_s
        self._paused_until: dict[str, float] = {}

    @classmethod
    def from_settings(
        cls,
        settings: NotifySettings,
        *,
        engine: AsyncEngine,
        notifiers: Mapping[str, Notifier],
        metrics: OutboxMetrics,
    ) -> OutboxDispatcher:
        """Build a dispatcher with the batch, retry and poll settings of `settings`."""
        return cls(
            engine=engine,
            notifiers=notifiers,
            metrics=metrics,
            batch_size=settings.outbox_batch_size,
            max_attempts=settings.outbox_max_attempts,
            backoff_base_s=settings.outbox_backoff_base_s,
            backoff_max_s=settings.outbox_backoff_max_s,
            poll_interval_s=settings.outbox_poll_interval_s,
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
        """Deliver until `stop` is set; a database outage pauses delivery, nothing is lost."""
        delay = self._poll_interval_s
        while not stop.is_set():
            try:
                handled = await self.dispatch_once()
                delay = self._poll_interval_s
            except (InfraError, DBAPIError, OperationalError, OSError) as exc:
                log.warning("outbox dispatch failed (%s); retrying", type(exc).__name__)
                handled = 0
                delay = min(delay * 2, 30.0)
            if handled < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    def _ready_channels(self) -> list[str]:
        now = asyncio.get_running_loop().time()
        return [ch for ch in self._notifiers if self._paused_until.get(ch, 0.0) <= now]

    async def dispatch_once(self) -> int:
        """Claim, send and settle one batch of due rows; return how many were handled."""
        channels = self._ready_channels()
        if not channels:
            return 0
        async with transaction(self._engine) as session:
            claim = (
                select(OutboxRow)
                .where(
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at <= func.now(),
                    OutboxRow.channel.in_(channels),
                )
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            )
            rows = [
                _Claimed(
                    r.id,
                    r.incident_id,
                    r.channel,
                    r.dedupe_key,
                    r.payload,
                    r.attempts,
                    r.created_at,
                )
                for r in (await session.scalars(claim)).all()
            ]
            if not rows:
                return 0
            outcomes = await asyncio.gather(*(self._send(row) for row in rows))
            now = await session.scalar(select(func.now()))
            for row, error in zip(rows, outcomes, strict=True):
                await self._settle(session, row, error, now)
        return len(rows)

    async def _send(self, row: _Claimed) -> DeliveryError | None:
        try:
            await self._notifiers[row.channel].send(row.payload, idempotency_key=row.dedupe_key)
        except DeliveryError as exc:
            return exc
        except (KeyError, TypeError, ValueError) as exc:
            # A payload the notifier cannot render will never succeed: fail it, don't loop.
            return DeliveryError(f"{row.channel}: malformed payload ({type(exc).__name__})")
        return None

    async def _settle(
        self,
        session: AsyncSession,
        row: _Claimed,
        error: DeliveryError | None,
        now: datetime | None,
    ) -> None:
        attempts = row.attempts + 1
        values: dict[str, Any]
        if error is None:
            values = {"status": "sent", "sent_at": func.now(), "last_error": None}
            outcome = "sent"
            if now is not None:
                self._metrics.latency.labels(row.channel).observe(
                    max((now - row.created_at).total_seconds(), 0.0)
                )
        elif isinstance(error, TransientDeliveryError) and attempts < self._max_attempts:
            delay = backoff_delay(attempts, base_s=self._backoff_base_s, max_s=self._backoff_max_s)
            if error.retry_after_s is not None:
                delay = max(delay, error.retry_after_s)
                self._paused_until[row.channel] = (
                    asyncio.get_running_loop().time() + error.retry_after_s
                )
            values = {
                "next_attempt_at": func.now() + timedelta(seconds=delay),
                "last_error": str(error),
            }
            outcome = "retry"
        else:
            values = {"status": "failed", "last_error": str(error)}
            outcome = "failed"
            log.error("notification %d on %s failed for good: %s", row.id, row.channel, error)
        await session.execute(
            update(OutboxRow).where(OutboxRow.id == row.id).values(attempts=attempts, **values)
        )
        self._metrics.deliveries.labels(row.channel, outcome).inc()
        if row.incident_id is not None and outcome != "retry":
            session.add(
                IncidentEventRow(
                    incident_id=row.incident_id,
                    kind="notified" if outcome == "sent" else "notification_failed",
                    actor="system",
                    data={
                        "channel": row.channel,
                        "dedupe_key": row.dedupe_key,
                        "attempts": attempts,
                        **({"error": str(error)} if error else {}),
                    },
                )
            )
