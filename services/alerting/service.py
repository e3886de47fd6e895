"""Wiring of the alerting service: build adapters from settings and run the worker."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.campaigns.calendar import CampaignCalendar
from services.alerting.detect.authors import AuthorGateConfig
from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.keywords import KeywordConfig
from services.alerting.incidents.store import IncidentChange, IncidentHooks
from services.alerting.metrics import AlertingMetrics
from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.closures import announce_merge
from services.alerting.notify.housekeeping import NotificationHousekeeper
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from services.alerting.notify.routing import notify_incident
from services.alerting.ownership import Partitions
from services.alerting.playbooks.runs import start_playbook_run, switch_playbook_run
from services.alerting.worker import AlertingWorker
from shared.db.engine import create_engine, wait_for_database
from shared.dead_letters import DeadLetterWriter
from shared.kafka import EventConsumer, EventProducer
from shared.metrics import MetricsServer
from shared.probes import WorkerProbes
from shared.process_metrics import register_process_metrics
from shared.resilience import FatalDatabaseError
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import NotifySettings

log = logging.getLogger(__name__)


def engine_config(settings: AlertingSettings) -> EngineConfig:
    """Build the detection engine's config from the service settings."""
    return EngineConfig(
        bin_seconds=settings.alerting_bin_seconds,
        preset=settings.alerting_preset,
        young_model=settings.alerting_young_model,
        lateness_s=settings.alerting_lateness_s,
        idle_flush_s=settings.alerting_idle_flush_s,
        gate=AuthorGateConfig(
            min_distinct=settings.alerting_gate_min_authors,
            max_top_share=settings.alerting_gate_max_top_share,
        ),
        keywords=KeywordConfig(
            min_reach=settings.alerting_keyword_min_reach,
            min_engagement=settings.alerting_keyword_min_engagement,
        ),
        burst_window_s=settings.burst_window_s,
        burst_min_negative=settings.burst_min_negative,
        burst_min_authors=settings.burst_min_authors,
        burst_cooldown_s=settings.burst_cooldown_s,
        recovery_minutes=settings.alerting_recovery_minutes,
    )


class NotifyHooks:
    """Start the playbook and enqueue notifications in the transaction of the incident change.

    A signal folded into an open incident does not notify (one page per story); a severity
    change and a recovery proposal do. An incident merged into another (their stories
    converged) gets one "merged into #N" update in its own thread.
    """

    def __init__(self, settings: NotifySettings) -> None:
        self._settings = settings

    async def __call__(self, session: AsyncSession, change: IncidentChange) -> None:
        """Run the side effects of one incident change."""
        for merged in change.merged:
            await announce_merge(session, merged, into=change.incident_id, settings=self._settings)
        if change.kind == "opened":
            await start_playbook_run(
                session, change.incident_id, change.category, datetime.now(UTC)
            )
            await notify_incident(
                session, change.incident_id, update_kind="opened", settings=self._settings
            )
        if change.recategorized:
            # The story now has a topic: its own playbook replaces the generic one.
            await switch_playbook_run(
                session, change.incident_id, change.category, datetime.now(UTC)
            )
        if change.kind == "opened":
            return
        if change.kind == "severity_changed":
            await notify_incident(
                session,
                change.incident_id,
                update_kind="severity_changed",
                settings=self._settings,
            )
        elif change.kind == "recovery_proposed":
            await notify_incident(
                session,
                change.incident_id,
                update_kind="updated",
                settings=self._settings,
                revision=f"recovery-{change.signal_id or 0}-{datetime.now(UTC):%Y%m%d%H%M}",
            )


async def serve(
    settings: AlertingSettings,
    stop: asyncio.Event,
    *,
    notify_settings: NotifySettings,
    registry: CollectorRegistry | None = None,
    hooks: IncidentHooks | None = None,
) -> None:
    """Run the alerting worker until `stop` is set; `hooks` run with every incident change.

    Without `hooks`, incident changes start playbooks and enqueue notifications
    (`NotifyHooks` over `notify_settings`, the notify section of the settings tree).
    """
    registry = registry or CollectorRegistry()
    metrics = AlertingMetrics(registry)
    register_process_metrics(registry, service="alerting")
    partitions = Partitions(settings.topic_scored)
    # Sessions carry the owner id of `partition_owners`: which replica holds what is visible.
    engine = create_engine(settings, application_name=partitions.owner)
    probes = WorkerProbes(bootstrap_servers=settings.bootstrap_servers, engine=engine)
    metrics_server = MetricsServer(
        registry, settings.alerting_metrics_host, settings.alerting_metrics_port, probes=probes
    )
    producer = EventProducer(settings.bootstrap_servers, client_id="crisiswatch-alerting")
    consumer = EventConsumer(
        settings.bootstrap_servers,
        [settings.topic_scored],
        group_id=settings.alerting_group_id,
        client_id="crisiswatch-alerting",
        session_timeout_ms=int(settings.alerting_session_timeout_s * 1000),
    )
    dispatcher = OutboxDispatcher.from_settings(
        notify_settings,
        engine=engine,
        notifiers=build_notifiers(notify_settings),
        metrics=OutboxMetrics(registry),
    )
    housekeeper = NotificationHousekeeper(engine=engine, settings=notify_settings)
    calendar = CampaignCalendar()
    detection = DetectionEngine(engine_config(settings), lift=calendar)
    await wait_for_database(engine)
    await producer.start()
    worker = AlertingWorker(
        consumer=consumer,
        engine=engine,
        detection=detection,
        calendar=calendar,
        metrics=metrics,
        dead_letters=DeadLetterWriter(producer, settings.topic_dlq, stage="alerting"),
        grouping_window=timedelta(seconds=settings.alerting_grouping_window_s),
        partitions=partitions,
        restore_on_assign=settings.alerting_restore_on_assign,
        claim_wait_s=settings.alerting_claim_wait_s,
        checkpoint_s=settings.alerting_checkpoint_s,
        rebuild_hours=settings.alerting_rebuild_hours,
        refresh_s=settings.alerting_campaign_refresh_s,
        rules_poll_s=settings.alerting_rules_poll_s,
        hooks=hooks if hooks is not None else NotifyHooks(notify_settings),
    )
    await consumer.start(listener=worker)
    metrics_server.start()
    log.info(
        "alerting worker consuming %s (preset %s)", settings.topic_scored, settings.alerting_preset
    )
    await dispatcher.start()
    probes.set_consuming(True)
    try:
        # The worker opens incidents and queues notifications; the dispatcher delivers the
        # outbox; the housekeeper escalates, re-notifies overdue steps and sends digests.
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(worker.run(stop))
            tasks.create_task(dispatcher.run(stop))
            tasks.create_task(housekeeper.run(stop))
    except* FatalDatabaseError as group:
        # One clear error for the entry point (one line on stderr), not a task group.
        first = group.exceptions[0]
        raise first from first.__cause__
    finally:
        probes.set_consuming(False)
        await dispatcher.stop()
        metrics_server.stop()
        await consumer.stop()
        await producer.stop()
        await engine.dispose()
