"""`crisiswatch digest`: preview a brand digest as an HTML file, or send one now.

`preview` reads the figures and writes the email's HTML with its charts inline; nothing is
claimed or sent. `send` claims the digest like the scheduler (a digest already sent for the
period is not sent again), queues it, and delivers it through the outbox before returning.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import select

from services.alerting.digests.content import chart_specs, render_html
from services.alerting.digests.data import gather
from services.alerting.digests.periods import Period, due_period, ending, parse_period
from services.alerting.digests.send import queue_digest
from services.alerting.notify.channels import build_notifiers
from services.alerting.notify.chart import render_chart_spec
from services.alerting.notify.links import notification_links
from services.alerting.notify.outbox import OutboxDispatcher, OutboxMetrics
from shared.db.engine import create_engine, transaction
from shared.db.models import OutboxRow
from shared.errors import BadInput
from shared.settings.common import CommonSettings
from shared.settings.notify import NotifySettings

_SETTLED = ("sent", "failed")


@dataclass(frozen=True, slots=True)
class DigestRequest:
    """What the command was asked: brand, period kind, optional end date, output file."""

    action: str
    brand: str
    period: str
    end: str | None = None
    out: str | Path | None = None


def resolve_period(settings: NotifySettings, kind_name: str, end: str | None) -> Period:
    """The period the command means: ending at local `end` (a date), else the latest due."""
    try:
        kind = parse_period(kind_name)
        zone = settings.digest_zone()
        if end is not None:
            return ending(kind, date.fromisoformat(end), zone)
    except ValueError as exc:
        raise BadInput(f"digest: {exc}") from None
    now = datetime.now(UTC)
    return due_period(kind, now, zone=zone, hour=0, weekday=settings.brand_digest_weekday)


def inline_png(spec: dict[str, Any]) -> str:
    """A chart as a `data:` URI (the preview file has no email parts to point at)."""
    return "data:image/png;base64," + base64.b64encode(render_chart_spec(spec)).decode()


async def preview_html(common: CommonSettings, settings: NotifySettings, req: DigestRequest) -> str:
    """The digest's email HTML with its charts inline (nothing claimed, nothing sent)."""
    period = resolve_period(settings, req.period, req.end)
    engine = create_engine(common)
    try:
        async with transaction(engine) as session:
            figures = await gather(
                session,
                req.brand,
                period,
                link=lambda i: notification_links(settings, i).incident,
                overview_link=f"{settings.api_base_url.rstrip('/')}/incidents",
            )
    finally:
        await engine.dispose()
    charts = {spec["name"]: inline_png(spec) for spec in chart_specs(figures)}
    return render_html(figures, charts.__getitem__)


async def send_now(
    common: CommonSettings, settings: NotifySettings, req: DigestRequest, *, timeout_s: float = 60
) -> dict[str, Any]:
    """Claim, queue and deliver one digest; report what happened to it."""
    period = resolve_period(settings, req.period, req.end)
    engine = create_engine(common)
    try:
        async with transaction(engine) as session:
            queued = await queue_digest(
                session, req.brand, period, settings=settings, claimed_by="cli"
            )
        result: dict[str, Any] = {
            "brand": req.brand,
            "period": period.kind,
            "days": period.label,
        }
        if queued is None:
            return {**result, "sent": False, "reason": "already sent for this period"}
        if not queued.channels:
            return {**result, "sent": False, "reason": "no digest channel is configured"}
        statuses = await _deliver(engine, settings, queued.digest_id, timeout_s=timeout_s)
        return {**result, "sent": all(s == "sent" for s in statuses.values()), "channels": statuses}
    finally:
        await engine.dispose()


async def _deliver(
    engine: Any, settings: NotifySettings, digest_id: int, *, timeout_s: float
) -> dict[str, str]:
    """Run an outbox dispatcher until the digest's messages are settled (or `timeout_s`)."""
    dispatcher = OutboxDispatcher.from_settings(
        settings,
        engine=engine,
        notifiers=build_notifiers(settings),
        metrics=OutboxMetrics(CollectorRegistry()),
    )
    prefix = f"brand-digest:{digest_id}:"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    await dispatcher.start()
    try:
        while True:
            async with transaction(engine) as session:
                rows = (
                    await session.execute(
                        select(OutboxRow.channel, OutboxRow.status).where(
                            OutboxRow.dedupe_key.startswith(prefix)
                        )
                    )
                ).all()
            statuses = {row.channel: row.status for row in rows}
            if all(s in _SETTLED for s in statuses.values()) or loop.time() >= deadline:
                return statuses
            if not await dispatcher.dispatch_once():
                await asyncio.sleep(settings.outbox_poll_interval_s)
    finally:
        await dispatcher.stop()


def digest_cli(common: CommonSettings, settings: NotifySettings, req: DigestRequest) -> int:
    """Run `crisiswatch digest [preview|send]`; print JSON, return the exit code."""
    if req.action == "send":
        result = asyncio.run(send_now(common, settings, req))
        print(json.dumps(result))
        return 0 if result["sent"] or result.get("reason") == "already sent for this period" else 1
    if not req.out:
        raise BadInput("digest preview needs --out FILE.html")
    out = Path(req.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(asyncio.run(preview_html(common, settings, req)), encoding="utf-8")
    print(json.dumps({"written": str(out)}))
    return 0
