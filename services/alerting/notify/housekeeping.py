"""Periodic notification jobs: expired snoozes, escalations, overdue steps, closures, and the
digests.

With several alerting replicas, one tick runs at a time: each tick takes a transaction-level
advisory lock (`pg_try_advisory_xact_lock`) and a replica that finds it taken skips the
tick, so an escalation or a digest is never sent twice by two replicas racing. The brand
digests (`services/alerting/digests/`) are queued by the tick once they are due; each is
claimed in the database first, so restarts never send one twice either.

Database errors follow `shared.resilience`: a row the database refuses (a data error) is
marked failed with the reason by the job itself (`escalation_failed`, `step_overdue_failed`,
a failed digest entry); a transient error retries the tick with jittered back-off, sooner
than the next interval; any other error stops the service with `FatalDatabaseError`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.digests.send import send_due_digests
from services.alerting.notify.closures import announce_closures
from services.alerting.notify.escalation import escalate_unacknowledged
from services.alerting.notify.routing import flush_digest
from services.alerting.notify.snoozes import wake_snoozed
from services.alerting.playbooks.runs import overdue_steps
from shared.db.engine import transaction
from shared.resilience import (
    DB_ERRORS,
    Backoff,
    OnDbError,
    default_on_db_error,
    describe_db_error,
    fatal,
    wait_or_stop,
)
from shared.settings.notify import NotifySettings

log = logging.getLogger(__name__)

# The advisory lock key of the housekeeping tick (any constant shared by every replica).
TICK_LOCK = 0x63775F686B  # "cw_hk"


class NotificationHousekeeper:
    """Runs snooze, escalation, overdue-step and closure checks often; the digest less often."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        settings: NotifySettings,
        on_db_error: OnDbError = default_on_db_error,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._on_db_error = on_db_error
        self.scheduler_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def tick(self, *, digest: bool) -> bool:
        """Run the checks once (and flush the digest when `digest` is true); False when
        another replica's tick holds the lock (this one is skipped)."""
        now = datetime.now(UTC)
        on_db_error = self._on_db_error
        async with transaction(self._engine) as session:
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(TICK_LOCK))):
                return False
            # Wake expired snoozes first, so escalation sees them open again.
            await wake_snoozed(session, now, settings=self._settings, on_db_error=on_db_error)
            await escalate_unacknowledged(
                session, now, settings=self._settings, on_db_error=on_db_error
            )
            await overdue_steps(session, now, settings=self._settings, on_db_error=on_db_error)
            await announce_closures(session, now, settings=self._settings, on_db_error=on_db_error)
            if digest:
                await flush_digest(session, settings=self._settings, on_db_error=on_db_error)
        await send_due_digests(
            self._engine,
            now,
            settings=self._settings,
            claimed_by=self.scheduler_id,
            on_db_error=on_db_error,
        )
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every `housekeeping_interval_s` until `stop` is set."""
        loop = asyncio.get_running_loop()
        interval = self._settings.housekeeping_interval_s
        next_digest = loop.time() + self._settings.digest_interval_s
        outage = Backoff(base_s=min(1.0, interval), cap_s=interval)
        while not stop.is_set():
            due = loop.time() >= next_digest
            wait = interval
            try:
                ran = await self.tick(digest=due)
                outage.reset()
                if due and ran:
                    next_digest = loop.time() + self._settings.digest_interval_s
            except DB_ERRORS as exc:
                if self._on_db_error(exc) != "retry":
                    log.critical("notification housekeeping stopped: %s", describe_db_error(exc))
                    raise fatal("notification housekeeping", exc) from exc
                wait = outage.next_delay()
                log.warning(
                    "notification housekeeping failed (%s); retrying in %.1fs",
                    describe_db_error(exc),
                    wait,
                )
            if await wait_or_stop(stop, wait):
                return
