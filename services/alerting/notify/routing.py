"""Route incident notifications by severity into the outbox, and batch low ones into a digest."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.brands.store import brand_routes as load_brand_routes
from services.alerting.notify.content import incident_payloads
from services.alerting.notify.digests import digest_payloads
from services.alerting.notify.links import notification_links
from services.alerting.notify.outbox import enqueue
from services.alerting.notify.summary import load_summary
from services.alerting.notify.threads import note_thread, threaded
from shared.db.models import IncidentEventRow, IncidentRow, OutboxRow
from shared.resilience import OnDbError, Refused, default_on_db_error, in_savepoint
from shared.settings.notify import DIGEST, NotifySettings

log = logging.getLogger(__name__)

UpdateKind = Literal[
    "opened", "severity_changed", "updated", "resolved", "dismissed", "escalated", "merged"
]
CLOSING: frozenset[str] = frozenset({"resolved", "dismissed", "merged"})


async def notify_incident(
    session: AsyncSession,
    incident_id: int,
    *,
    update_kind: UpdateKind,
    settings: NotifySettings,
    revision: str | None = None,
    channels: Sequence[str] | None = None,
    note: str | None = None,
) -> list[str]:
    """Enqueue the incident's notifications per severity routing; return the channels queued.

    Routing is the brand's own routes (`/v1/brands/{brand}/settings`) where they name the
    severity, otherwise `settings.routes`.

    The dedupe key is (incident, update_kind, revision, channel); `revision` defaults to the
    current severity, so calling this twice for the same update enqueues nothing new.
    Explicit `channels` replace the routing (and the digest); `note` is shown in the message.
    A snoozed incident's updates are held (`notification_held` on its timeline), not sent.
    Every message after an incident's first on a channel goes into its thread (`threads`).
    """
    summary = await load_summary(session, incident_id)
    if summary is None:
        return []
    if summary.status == "snoozed" and update_kind not in CLOSING:
        # Held while snoozed; a severity that rose meanwhile is notified at the wake.
        session.add(
            IncidentEventRow(
                incident_id=incident_id,
                kind="notification_held",
                actor="system",
                data={"update_kind": update_kind, "severity": summary.severity},
            )
        )
        await session.flush()
        return []
    if note is not None:
        summary = replace(summary, note=note)
    rev = revision if revision is not None else summary.severity
    key = f"incident:{incident_id}:{update_kind}:{rev}"
    if channels is None:
        brand_routes = await load_brand_routes(session, summary.brand)
        channels, to_digest = settings.route(summary.severity, brand_routes)
    else:
        to_digest = False
    links = notification_links(settings, incident_id)
    payloads = incident_payloads(summary, links, update_kind=update_kind, channels=channels)
    incident = await session.get(IncidentRow, incident_id)
    queued = []
    for channel, payload in payloads.items():
        body = threaded(incident, channel, payload)
        dedupe_key = f"{key}:{channel}"
        row = await enqueue(
            session, incident_id=incident_id, channel=channel, dedupe_key=dedupe_key, payload=body
        )
        if row is None:
            continue
        queued.append(channel)
        note_thread(incident, channel, body, dedupe_key=dedupe_key[:256])
    if to_digest and update_kind not in CLOSING:
        held = await enqueue(
            session,
            incident_id=incident_id,
            channel=DIGEST,
            dedupe_key=f"{key}:{DIGEST}",
            payload={"incident_id": incident_id, "update_kind": update_kind},
            status="held",
        )
        if held is not None:
            queued.append(DIGEST)
    if queued:
        session.add(
            IncidentEventRow(
                incident_id=incident_id,
                kind="notification_queued",
                actor="system",
                data={"update_kind": update_kind, "channels": queued, "severity": summary.severity},
            )
        )
        await session.flush()
    return queued


async def flush_digest(
    session: AsyncSession, *, settings: NotifySettings, on_db_error: OnDbError = default_on_db_error
) -> int:
    """Turn every held digest entry into one message per digest channel; return the count.

    When the database refuses the digest messages (a data error), the held entries are
    marked failed with the reason instead of being retried at every flush.
    """
    held = (
        await session.scalars(
            select(OutboxRow)
            .where(OutboxRow.status == "held", OutboxRow.channel == DIGEST)
            .order_by(OutboxRow.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not held:
        return 0
    ids = [r.id for r in held]
    items = []
    for incident_id in dict.fromkeys(r.incident_id for r in held if r.incident_id is not None):
        summary = await load_summary(session, incident_id)
        if summary is not None and summary.status != "resolved":
            items.append((summary, notification_links(settings, incident_id)))
    channels = [ch for ch in settings.digest_channels if ch in settings.enabled_channels()]
    values: dict[str, Any] = {"status": "digested", "sent_at": None}
    if items:
        payloads = digest_payloads(items, channels=channels)
        send = functools.partial(_enqueue_digest, session, payloads, f"digest:{ids[0]}-{ids[-1]}")
        refused = await in_savepoint(session, send, on_db_error=on_db_error)
        if isinstance(refused, Refused):
            values = {"status": "failed", "last_error": f"database refused: {refused.reason}"}
            log.error("digest of %d entries: %s", len(ids), values["last_error"])
    await session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_(ids))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return len(items) if values["status"] == "digested" else 0


async def _enqueue_digest(
    session: AsyncSession, payloads: dict[str, dict[str, Any]], key: str
) -> None:
    for channel, payload in payloads.items():
        await enqueue(
            session,
            incident_id=None,
            channel=channel,
            dedupe_key=f"{key}:{channel}",
            payload=payload,
        )
