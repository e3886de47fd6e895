"""Claim a brand's digest period and queue its messages in the outbox, once.

The claim is a `digests` row unique on (brand, period, period start), inserted in the same
transaction as the outbox rows: two schedulers (replicas, or a restart mid-tick) racing for
the same digest meet on that key, the second inserts nothing and sends nothing; a failure
before the commit leaves no claim, so the next tick tries again. The outbox then delivers
like any notification (at least once, with bounded retries). A digest the database refuses
for good (a data error) is claimed without messages, its reason kept in `summary`, so it
is not retried at every tick.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.alerting.digests.content import digest_payloads
from services.alerting.digests.data import digest_brands, gather
from services.alerting.digests.periods import Period, due_period
from services.alerting.notify.links import notification_links
from services.alerting.notify.outbox import enqueue
from shared.db.engine import transaction
from shared.db.models import DigestRow
from shared.resilience import OnDbError, Refused, default_on_db_error, in_savepoint
from shared.settings.notify import NotifySettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Queued:
    """A digest claimed and queued: its row id and the channels it goes to."""

    digest_id: int
    brand: str
    period: Period
    channels: tuple[str, ...]


def _recipients(payloads: dict[str, dict[str, object]], brand: str, s: NotifySettings) -> None:
    """Address the digest: the brand's own recipients, else the digest ones, else the default."""
    own = s.brand_digest_recipients.get(brand)
    channel = (own.slack_channel if own else None) or s.brand_digest_slack_channel
    if "slack" in payloads and channel and s.slack_bot_token is not None:
        payloads["slack"]["channel"] = channel
    email_to = (own.email_to if own else None) or s.brand_digest_email_to
    if "email" in payloads and email_to:
        payloads["email"]["to"] = list(email_to)


async def claim(
    session: AsyncSession, brand: str, period: Period, *, claimed_by: str
) -> int | None:
    """Insert the digest's row; its id, or None when another scheduler already has it."""
    stmt = (
        insert(DigestRow)
        .values(
            brand=brand,
            period=period.kind,
            period_start=period.start,
            period_end=period.end,
            claimed_by=claimed_by[:64],
        )
        .on_conflict_do_nothing(constraint="uq_digests_brand_period")
        .returning(DigestRow.id)
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    return int(found) if found is not None else None


async def queue_digest(
    session: AsyncSession,
    brand: str,
    period: Period,
    *,
    settings: NotifySettings,
    claimed_by: str,
) -> Queued | None:
    """Claim the digest of (brand, period) and enqueue one message per digest channel.

    Returns None when it was already claimed (sent or being sent) by anyone.
    """
    digest_id = await claim(session, brand, period, claimed_by=claimed_by)
    if digest_id is None:
        return None
    enabled = settings.enabled_channels()
    channels = [ch for ch in settings.brand_digest_channels if ch in enabled]
    figures = await gather(
        session,
        brand,
        period,
        link=lambda incident_id: notification_links(settings, incident_id).incident,
        overview_link=f"{settings.api_base_url.rstrip('/')}/incidents",
    )
    payloads = digest_payloads(figures, channels=channels)
    _recipients(payloads, brand, settings)
    for channel, payload in payloads.items():
        await enqueue(
            session,
            incident_id=None,
            channel=channel,
            dedupe_key=f"brand-digest:{digest_id}:{channel}",
            payload=payload,
        )
    await session.execute(
        update(DigestRow)
        .where(DigestRow.id == digest_id)
        .values(channels=list(payloads), summary=figures.summary())
    )
    log.info("digest %s %s %s queued on %s", brand, period.kind, period.label, list(payloads))
    return Queued(digest_id, brand, period, tuple(payloads))


async def _queue_or_record(
    session: AsyncSession,
    brand: str,
    period: Period,
    *,
    settings: NotifySettings,
    claimed_by: str,
    on_db_error: OnDbError,
) -> Queued | None:
    """Queue the digest in a savepoint; when refused, claim it with the reason instead."""
    work = functools.partial(
        queue_digest, session, brand, period, settings=settings, claimed_by=claimed_by
    )
    queued = await in_savepoint(session, work, on_db_error=on_db_error)
    if not isinstance(queued, Refused):
        return queued
    log.error("digest %s %s %s refused: %s", brand, period.kind, period.label, queued.reason)
    digest_id = await claim(session, brand, period, claimed_by=claimed_by)
    if digest_id is not None:
        await session.execute(
            update(DigestRow)
            .where(DigestRow.id == digest_id)
            .values(summary={"error": f"database refused: {queued.reason}"})
        )
    return None


async def send_due_digests(
    engine: AsyncEngine,
    now: datetime,
    *,
    settings: NotifySettings,
    claimed_by: str,
    on_db_error: OnDbError = default_on_db_error,
) -> list[Queued]:
    """Queue every digest due at `now` that nobody claimed yet (one transaction per brand)."""
    if not settings.brand_digest_enabled:
        return []
    queued: list[Queued] = []
    for kind in dict.fromkeys(settings.brand_digest_periods):
        period = due_period(
            kind,
            now,
            zone=settings.digest_zone(),
            hour=settings.brand_digest_hour,
            weekday=settings.brand_digest_weekday,
        )
        async with transaction(engine) as session:
            brands = settings.brand_digest_brands or await digest_brands(session, period)
            done = set(
                (
                    await session.scalars(
                        select(DigestRow.brand).where(
                            DigestRow.period == kind, DigestRow.period_start == period.start
                        )
                    )
                ).all()
            )
        for brand in brands:
            if brand in done:
                continue
            async with transaction(engine) as session:
                item = await _queue_or_record(
                    session,
                    brand,
                    period,
                    settings=settings,
                    claimed_by=claimed_by,
                    on_db_error=on_db_error,
                )
            if item is not None:
                queued.append(item)
    return queued
