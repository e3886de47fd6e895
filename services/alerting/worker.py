"""The alerting worker: consume `mentions.scored`, run the crisis rules, open incidents."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.incidents import open_or_update
from services.alerting.metrics import AlertingMetrics
from services.alerting.rules import BurstAlert, NegativeBurstRule
from shared import serde
from shared.db.engine import transaction
from shared.errors import InfraError, InvalidRecord
from shared.kafka import DeadLetterWriter, EventConsumer, Record
from shared.schemas import ScoredMention

log = logging.getLogger(__name__)


class AlertingWorker:
    """Consumer-group member that turns rule firings into incidents."""

    def __init__(
        self,
        *,
        consumer: EventConsumer,
        engine: AsyncEngine,
        rule: NegativeBurstRule,
        metrics: AlertingMetrics,
        dead_letters: DeadLetterWriter,
        retry_max_s: float = 30.0,
    ) -> None:
        self._consumer = consumer
        self._engine = engine
        self._rule = rule
        self._metrics = metrics
        self._dead_letters = dead_letters
        self._retry_max_s = retry_max_s

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until `stop` is set, committing after incidents are stored."""
        while not stop.is_set():
            records = await self._consumer.poll(timeout_ms=500, max_records=500)
            if not records:
                continue
            alerts = await self._detect(records)
            delay = 0.5
            while True:
                try:
                    await self._store(alerts)
                    break
                except (InfraError, DBAPIError, OperationalError, OSError) as exc:
                    log.warning("storing incidents failed (%s); retrying", type(exc).__name__)
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                        return
                    except TimeoutError:
                        delay = min(delay * 2, self._retry_max_s)
            await self._consumer.commit(records)

    async def _detect(self, records: Sequence[Record]) -> list[BurstAlert]:
        alerts: list[BurstAlert] = []
        for rec in records:
            try:
                scored = serde.decode(ScoredMention, rec.value)
            except InvalidRecord as exc:
                self._metrics.dead_lettered.inc()
                await self._dead_letters.send(
                    rec.value, exc.reason, source=f"{rec.topic}/{rec.partition}@{rec.offset}"
                )
                continue
            alerts.extend(self._rule.observe(scored))
        return alerts

    async def _store(self, alerts: Sequence[BurstAlert]) -> None:
        if not alerts:
            return
        async with transaction(self._engine) as session:
            for alert in alerts:
                self._metrics.signals.labels(alert.rule).inc()
                change = await open_or_update(
                    session,
                    brand=alert.brand,
                    topic="",
                    rule=alert.rule,
                    title=f"Negative burst for {alert.brand}: {alert.negatives} negative "
                    f"mentions from {alert.authors} authors",
                    severity="SEV3",
                    score=float(alert.negatives),
                    details={"negatives": alert.negatives, "authors": alert.authors,
                             "at": alert.at.isoformat()},
                )
                if change.opened:
                    self._metrics.incidents_opened.labels(alert.rule, "SEV3").inc()
                    log.info("incident %d opened for %s", change.incident_id, alert.brand)
