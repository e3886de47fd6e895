"""Periodic notification jobs: escalations, overdue playbook steps, and the digest."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.escalation import escalate_unacknowledged
from services.alerting.notify.routing import flush_digest
from services.alerting.playbooks.runs import overdue_steps
from shared.db.engine import transaction
from shared.errors import InfraError
from shared.settings.notify import NotifySettings

log = logging.getLogger(__name__)


class NotificationHousekeeper:
    """Runs escalation and overdue-step checks often, and flushes the digest on its interval."""

    def __init__(self, *, engine: AsyncEngine, settings: NotifySettings) -> None:
        self._engine = engine
        self._settings = settings

    async def tick(self, *, digest: bool) -> None:
        """Run the checks once (and flush the digest when `digest` is true)."""
        now = datetime.now(UTC)
        async with transaction(self._engine) as session:
            await escalate_unacknowledged(session, now, settings=self._settings)
            await overdue_steps(session, now, settings=self._settings)
            if digest:
                await flush_digest(session, settings=self._settings)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every `housekeeping_interval_s` until `stop` is set."""
        loop = asyncio.get_running_loop()
        next_digest = loop.time() + self._settings.digest_interval_s
        while not stop.is_set():
            due = loop.time() >= next_digest
            try:
                await self.tick(digest=due)
                if due:
                    next_digest = loop.time() + self._settings.digest_interval_s
            except (InfraError, DBAPIError, OperationalError, OSError) as exc:
                log.warning("notification housekeeping failed (%s); retrying", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.housekeeping_interval_s)
