"""Alerting under faults, end to end: Kafka -> detection -> incident -> outbox -> fake Slack.

- Slack answers 500 and 429 (Retry-After) for `SLACK_DOWN_S` seconds during an incident:
  every notification is delivered afterwards, exactly once per incident update.
- The alerting service crashes (its task is cancelled: no final checkpoint) during a growing
  crisis and restarts with no detector state: one incident, no repeated notification, the
  detectors are rebuilt from the rollups.
- A dispatcher process is killed (SIGKILL) after Slack accepted a message and before it could
  mark it sent: after a restart the message is found in the channel history, not posted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.alerting.notify.channels.slack_api import SlackApiNotifier
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics, enqueue
from services.alerting.service import serve as serve_alerting
from shared.db.engine import transaction
from shared.db.models import DetectorStateRow, IncidentEventRow, OutboxRow
from shared.kafka import EventProducer
from shared.settings.alerting import AlertingSettings
from shared.settings.notify import NotifySettings
from tests.detection_helpers import (
    CALM_HOURS,
    MARKETS,
    PLATFORMS,
    Stream,
    incidents,
    processed_until,
    publish,
)
from tests.fault_helpers import FlakySlack, poll_until
from tests.notify_fakes import FakeHttp, notify_settings

SLACK_DOWN_S = 8.0  # how long the fake Slack keeps failing once it saw the first message
ALL_TO_SLACK = {sev: ["slack"] for sev in ("SEV1", "SEV2", "SEV3", "SEV4")}


class Service:
    """One alerting service in this process, stoppable cleanly or by crashing."""

    def __init__(self, settings: AlertingSettings, notify: NotifySettings) -> None:
        self.settings = settings
        self.notify = notify
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start (or restart) the service."""
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            serve_alerting(
                self.settings, self.stop, registry=CollectorRegistry(), notify_settings=self.notify
            )
        )

    async def crash(self) -> None:
        """Cancel the service mid-flight: no final checkpoint of state or offsets."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=60)
        self.task = None

    async def shutdown(self) -> None:
        """Stop and wait."""
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout=60)
            self.task = None

    def check_running(self) -> None:
        """Fail with the service's exception if it died."""
        if self.task is not None and self.task.done():
            self.task.result()
            raise AssertionError("the alerting service returned early")


def _alerting(settings_factory: Callable[..., Any]) -> AlertingSettings:
    settings: AlertingSettings = settings_factory(
        AlertingSettings,
        alerting_checkpoint_s=0.5,
        alerting_idle_flush_s=3.0,
        alerting_campaign_refresh_s=1.0,
    )
    return settings


async def _outbox(engine: AsyncEngine, incident_ids: list[int]) -> list[OutboxRow]:
    async with transaction(engine) as session:
        rows = await session.scalars(
            select(OutboxRow)
            .where(OutboxRow.incident_id.in_(incident_ids), OutboxRow.channel == "slack")
            .order_by(OutboxRow.id)
        )
        return list(rows.all())


async def _settled(engine: AsyncEngine, brand: str) -> list[OutboxRow]:
    found = await incidents(engine, brand)
    rows = await _outbox(engine, [i.id for i in found])
    return rows if rows and all(r.status in {"sent", "failed"} for r in rows) else []


def _assert_each_update_once(rows: list[OutboxRow], slack: FlakySlack) -> None:
    assert all(r.status == "sent" for r in rows), [(r.dedupe_key, r.last_error) for r in rows]
    assert len({r.dedupe_key for r in rows}) == len(rows)
    delivered = Counter(p["text"] for p in slack.delivered())
    expected = Counter(r.payload["text"] for r in rows)
    assert delivered == expected, f"delivered {delivered} but the outbox holds {expected}"


async def test_slack_failing_for_a_while_still_gets_every_update_once(
    settings_factory: Callable[..., Any],
    producer: EventProducer,
    db_engine: AsyncEngine,
    unique: str,
) -> None:
    brand = f"slackdown-{unique}"
    stream = Stream(brand)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    crisis_start = now - timedelta(minutes=14)
    calm = stream.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    crisis = stream.crisis(crisis_start, 13)
    slack = FlakySlack(failing=True)
    with slack.serving():
        notify = notify_settings(
            slack_webhook_url=SecretStr(slack.url),
            routes=ALL_TO_SLACK,
            outbox_backoff_base_s=0.2,
            outbox_backoff_max_s=1.0,
            outbox_max_attempts=40,
        )
        service = Service(_alerting(settings_factory), notify)
        service.start()
        try:
            await publish(db_engine, producer, service.settings.topic_scored, calm + crisis)
            await poll_until(lambda: len(slack.refused()) > 0, timeout_s=120, what="Slack used")
            first_failure = time.monotonic()
            await poll_until(
                lambda: time.monotonic() - first_failure >= SLACK_DOWN_S,
                timeout_s=SLACK_DOWN_S + 5,
                what="the Slack outage window",
            )
            service.check_running()
            slack.heal()
            # Every bin judged first: the outbox then holds every update the crisis will make.
            await processed_until(db_engine, brand, crisis[-1].mention.created_at)
            rows: list[OutboxRow] = []

            async def settled() -> bool:
                rows[:] = await _settled(db_engine, brand)
                return bool(rows)

            await poll_until(settled, timeout_s=60, what="every notification to settle")
            found = await incidents(db_engine, brand)
            assert len(found) == 1
            _assert_each_update_once(rows, slack)
            refused = set(slack.refused())
            assert refused == {500, 429}, f"the outage answered only {refused}"
        finally:
            await service.shutdown()


async def test_alerting_crash_mid_crisis_one_incident_no_repeated_notification(
    settings_factory: Callable[..., Any],
    producer: EventProducer,
    db_engine: AsyncEngine,
    unique: str,
) -> None:
    brand = f"acrash-{unique}"
    stream = Stream(brand)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    crisis_start = now - timedelta(minutes=18)
    calm = stream.calm(crisis_start - timedelta(hours=CALM_HOURS), crisis_start)
    first = stream.crisis(crisis_start, 13)
    slack = FlakySlack(failing=False)
    with slack.serving():
        notify = notify_settings(slack_webhook_url=SecretStr(slack.url), routes=ALL_TO_SLACK)
        service = Service(_alerting(settings_factory), notify)
        topic = service.settings.topic_scored
        service.start()
        try:
            await publish(db_engine, producer, topic, calm + first)
            await poll_until(
                lambda: _settled(db_engine, brand), timeout_s=120, what="the opening page"
            )
            opened_pages = len(slack.delivered())
            assert opened_pages >= 1
            await service.crash()
            # No state survives: the restarted service must rebuild it from the rollups.
            async with transaction(db_engine) as session:
                await session.execute(
                    delete(DetectorStateRow).where(DetectorStateRow.key.startswith(f"{brand}|"))
                )
            service.start()
            # Minutes in the past: the idle flush closes their bin without waiting for it to end.
            later = now - timedelta(minutes=3)
            growing = [
                stream.mention(
                    later,
                    negative=True,
                    topics=["recall"],
                    emotion="anger",
                    market=MARKETS[i % 3],
                    platform=PLATFORMS[i % 3],
                )
                for i in range(120)
            ]
            await publish(db_engine, producer, topic, growing)
            state = await processed_until(db_engine, brand, later)
            assert state["short"]["n"] >= CALM_HOURS * 60, "history was not rebuilt from rollups"
            service.check_running()
            rows = await _wait_rows_settled(db_engine, brand)
            found = await incidents(db_engine, brand)
            assert len(found) == 1, "the restart opened a duplicate incident"
            _assert_each_update_once(rows, slack)
            opened = [r for r in rows if ":opened:" in r.dedupe_key]
            assert len(opened) == 1
        finally:
            await service.shutdown()


async def _wait_rows_settled(engine: AsyncEngine, brand: str) -> list[OutboxRow]:
    rows: list[OutboxRow] = []

    async def settled() -> bool:
        rows[:] = await _settled(engine, brand)
        return bool(rows)

    await poll_until(settled, timeout_s=60, what="notifications to settle")
    return rows


# A dispatcher in its own process: killed for real, it cannot clean anything up.
_DISPATCHER = """
import asyncio, sys
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from services.alerting.notify.channels.slack_api import SlackApiNotifier
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from shared.db.engine import create_engine
from shared.settings.infra import InfraSettings

async def main(database: str, api_base: str, channel: str) -> None:
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=api_base)
    dispatcher = OutboxDispatcher(
        engine=create_engine(InfraSettings(), database=database),
        notifiers={channel: notifier},
        metrics=OutboxMetrics(CollectorRegistry()),
        poll_interval_s=0.05,
        lease_s=2.0,
        dispatcher_id="doomed",
    )
    await dispatcher.run(asyncio.Event())

asyncio.run(main(*sys.argv[1:]))
"""


async def test_dispatcher_killed_after_slack_accepted_does_not_post_twice(
    test_database: str,
    db_engine: AsyncEngine,
    make_incident: Callable[..., Any],
    slack_api: FakeHttp,
    unique: str,
) -> None:
    incident_id = await make_incident()
    channel = f"slack-{unique}"
    async with transaction(db_engine) as session:
        await enqueue(
            session,
            incident_id=incident_id,
            channel=channel,
            dedupe_key=f"incident:{incident_id}:opened:SEV1:slack",
            payload={"text": "Battery fires", "blocks": []},
        )
    process = subprocess.Popen(
        [sys.executable, "-c", _DISPATCHER, test_database, slack_api.url, channel],
        cwd=os.getcwd(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def kill() -> None:
        # Slack has the message; the dispatcher dies before it reads the answer.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    slack_api.on_posted = kill
    try:
        await poll_until(lambda: process.poll() is not None, timeout_s=60, what="the kill")
    finally:
        if process.poll() is None:
            process.kill()
        stderr = process.communicate(timeout=10)[1]
    assert process.returncode == -signal.SIGKILL, stderr.decode(errors="replace")[-2000:]
    slack_api.on_posted = None
    assert len(slack_api.messages) == 1

    async def row() -> OutboxRow:
        async with transaction(db_engine) as session:
            return (
                await session.scalars(select(OutboxRow).where(OutboxRow.channel == channel))
            ).one()

    async def sent() -> bool:
        return (await row()).status == "sent"

    left = await row()
    assert (left.status, left.claimed_by) == ("sending", "doomed")
    notifier = SlackApiNotifier(SecretStr("xoxb-test"), "C0CRISIS", api_base=slack_api.url)
    restarted = OutboxDispatcher(
        engine=db_engine,
        notifiers={channel: notifier},
        metrics=OutboxMetrics(CollectorRegistry()),
        poll_interval_s=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(restarted.run(stop))
    try:
        await poll_until(sent, timeout_s=30, what="the killed dispatcher's row to be recovered")
    finally:
        stop.set()
        await task
        await notifier.stop()
    assert len(slack_api.messages) == 1, "the message was posted twice"
    assert len(slack_api.lookups) == 1
    async with transaction(db_engine) as session:
        events = (
            await session.scalars(
                select(IncidentEventRow).where(IncidentEventRow.incident_id == incident_id)
            )
        ).all()
    recovered = [e.data for e in events if e.kind == "notification_recovered"]
    assert [r["outcome"] for r in recovered] == ["confirmed"]
    assert [e.kind for e in events].count("notified") == 1
