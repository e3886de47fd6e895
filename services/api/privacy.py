"""Privacy: retention purge of old mentions and erasure of one author's data (GDPR, PIPL).

Author ids are pseudonymous everywhere (keyed HMAC, see `services.ingest.core.normalize`); an
erasure request may name either that id (`a_...`) or the raw platform id plus its platform.
Erasure deletes the author's mentions, rebuilds the rollups of every affected
(brand, minute) from the mentions that remain, and scrubs references from signals,
incidents, timelines and queued notifications. Retention drops whole day partitions of
the mentions (and their author keys): rollups are aggregates without personal data and
are kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Text, cast, delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.ingest.core.normalize import pseudonymize
from services.sentiment.store import rebuild_coarse_rollups
from shared.db import partition_store
from shared.db.engine import transaction
from shared.db.models import (
    IncidentEventRow,
    IncidentRow,
    MentionRow,
    OutboxRow,
    SignalRow,
)
from shared.db.partitions import SPECS, horizon
from shared.errors import BadInput
from shared.http import audit
from shared.resilience import DB_ERRORS, classify_db_error, describe_db_error, wait_or_stop
from shared.settings.ingest import IngestSettings

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # split kept tables' DEFAULT rows from here on
PSEUDONYM = re.compile(r"^a_[0-9a-f]{32}$")
ERASED = "[erased]"


class ErasureIn(BaseModel):
    """Input of `POST /v1/privacy/erasure`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    author: str = Field(
        min_length=1,
        max_length=256,
        description="pseudonymous id `a_...`, or the raw platform author id",
        examples=["t2_9xyz"],
    )
    platform: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_.-]{0,31}$",
        description="needed with a raw author id",
        examples=["reddit"],
    )


class ErasureReport(BaseModel):
    """What an erasure removed."""

    author_id: str = Field(description="the pseudonymous id that was erased")
    mentions_deleted: int
    rollup_keys_rebuilt: int = Field(description="(brand, minute) rollups rebuilt")
    signals_scrubbed: int
    incidents_scrubbed: int
    events_scrubbed: int
    notifications_scrubbed: int


class PurgeReport(BaseModel):
    """What a retention purge removed."""

    cutoff: datetime
    mentions_deleted: int
    partitions_dropped: list[str] = Field(
        default_factory=list, description="whole day partitions dropped (mentions, author keys)"
    )


def resolve_author(author: str, platform: str | None, secret: bytes | str) -> str:
    """The pseudonymous id of an erasure subject (raw ids need their platform)."""
    if PSEUDONYM.match(author):
        return author
    if not platform:
        raise BadInput("a raw author id needs its platform (or pass the pseudonymous a_... id)")
    key = secret.encode() if isinstance(secret, str) else secret
    return pseudonymize(platform, author, key)


def scrub(value: Any, needles: set[str]) -> tuple[Any, bool]:
    """Remove list items and values that mention any of `needles`; return (value, changed)."""
    if isinstance(value, str):
        return (ERASED, True) if any(n in value for n in needles) else (value, False)
    if isinstance(value, list):
        kept: list[Any] = []
        changed = False
        for item in value:
            if isinstance(item, dict | str) and _mentions(item, needles):
                changed = True  # a sample or reference about the author: drop it whole
                continue
            new, item_changed = scrub(item, needles)
            kept.append(new)
            changed |= item_changed
        return kept, changed
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            new, item_changed = scrub(item, needles)
            out[key] = new
            changed |= item_changed
        return out, changed
    return value, False


def _mentions(value: Any, needles: set[str]) -> bool:
    blob = json.dumps(value, ensure_ascii=False, default=str)
    return any(n in blob for n in needles)


async def _scrub_table(session: AsyncSession, model: Any, column: str, needles: set[str]) -> int:
    col = getattr(model, column)
    as_text = cast(col, Text)
    matches = or_(*[as_text.contains(n, autoescape=True) for n in needles])
    rows = (await session.scalars(select(model).where(matches).with_for_update())).all()
    changed = 0
    for row in rows:
        new, did = scrub(getattr(row, column), needles)
        if did:
            setattr(row, column, new)
            changed += 1
    await session.flush()
    return changed


# The mentions of the given (brand, minute) keys, once per topic ('' = all topics).
_KEY_MENTIONS = """
    FROM unnest(CAST(:brands AS varchar[]), CAST(:minutes AS timestamptz[]))
         AS k(brand, minute)
    JOIN mentions m ON m.created_at >= k.minute
        AND m.created_at < k.minute + interval '1 minute'
        AND m.brands @> ARRAY[k.brand]::varchar[]
    CROSS JOIN LATERAL unnest(ARRAY['']::varchar[] || m.topics) AS t(topic)
"""

_REBUILD_SQL = text(
    """
    INSERT INTO mention_rollups (brand, minute, topic, platform, language, volume, negative,
        neutral, positive, unscored, sentiment_sum, anger, fear, sadness, joy, surprise,
        disgust, engagement, reach, distinct_authors)
    SELECT k.brand, k.minute, t.topic, m.platform, m.language,
        count(*),
        count(*) FILTER (WHERE m.sentiment_label = 'negative'),
        count(*) FILTER (WHERE m.sentiment_label = 'neutral'),
        count(*) FILTER (WHERE m.sentiment_label = 'positive'),
        count(*) FILTER (WHERE m.sentiment_label IS NULL),
        coalesce(sum(m.sentiment_score), 0),
        coalesce(sum((m.emotions ->> 'anger')::float), 0),
        coalesce(sum((m.emotions ->> 'fear')::float), 0),
        coalesce(sum((m.emotions ->> 'sadness')::float), 0),
        coalesce(sum((m.emotions ->> 'joy')::float), 0),
        coalesce(sum((m.emotions ->> 'surprise')::float), 0),
        coalesce(sum((m.emotions ->> 'disgust')::float), 0),
        coalesce(sum(m.likes + m.shares + m.replies), 0),
        coalesce(sum(coalesce(m.author_reach, 0)), 0),
        count(DISTINCT m.author_id)
    """
    + _KEY_MENTIONS
    + "GROUP BY k.brand, k.minute, t.topic, m.platform, m.language"
)


# Author keys are per minute (services/sentiment/core/author_keys.py): rebuild whole minutes, for
# every brand, from the mentions that remain.
_REBUILD_AUTHORS_SQL = text(
    """
    INSERT INTO mention_rollup_authors (minute, author_key)
    SELECT DISTINCT k.minute, crisiswatch_author_key(b.brand, k.minute, t.topic, m.platform,
                                                     m.language, m.author_id)
    FROM unnest(CAST(:minutes AS timestamptz[])) AS k(minute)
    JOIN mentions m ON m.created_at >= k.minute
        AND m.created_at < k.minute + interval '1 minute'
    CROSS JOIN LATERAL unnest(m.brands) AS b(brand)
    CROSS JOIN LATERAL unnest(ARRAY['']::varchar[] || m.topics) AS t(topic)
    WHERE isfinite(k.minute)
    ON CONFLICT DO NOTHING
    """
)
_DELETE_AUTHORS_SQL = text(
    "DELETE FROM mention_rollup_authors WHERE minute = ANY(CAST(:minutes AS timestamptz[]))"
)
_DELETE_ROLLUPS_SQL = text(
    "DELETE FROM mention_rollups WHERE (brand, minute) IN (SELECT * FROM "
    "unnest(CAST(:brands AS varchar[]), CAST(:minutes AS timestamptz[])))"
)


async def rebuild_rollups(session: AsyncSession, keys: Sequence[tuple[str, datetime]]) -> int:
    """Recompute the rollups of the given (brand, minute) keys from the stored mentions."""
    unique = sorted(set(keys))
    if not unique:
        return 0
    params = {"brands": [b for b, _ in unique], "minutes": [m for _, m in unique]}
    await session.execute(_DELETE_ROLLUPS_SQL.bindparams(**params))
    await session.execute(_REBUILD_SQL.bindparams(**params))
    minutes = {"minutes": sorted({m for _, m in unique})}
    await session.execute(_DELETE_AUTHORS_SQL.bindparams(**minutes))
    await session.execute(_REBUILD_AUTHORS_SQL.bindparams(**minutes))
    await rebuild_coarse_rollups(session, unique)
    return len(unique)


async def erase_author(
    session: AsyncSession,
    author: str,
    platform: str | None,
    secret: bytes | str,
    *,
    actor: str = "cli",
) -> ErasureReport:
    """Remove one author's mentions and every stored reference to them; report the counts."""
    author_id = resolve_author(author, platform, secret)
    conditions = [MentionRow.author_id == author_id]
    if platform and not PSEUDONYM.match(author):
        conditions.append(MentionRow.platform == platform)
    deleted = (
        await session.execute(
            delete(MentionRow)
            .where(*conditions)
            .returning(MentionRow.external_id, MentionRow.brands, MentionRow.created_at)
        )
    ).all()
    keys = [
        (brand, row.created_at.replace(second=0, microsecond=0))
        for row in deleted
        for brand in row.brands
    ]
    rebuilt = await rebuild_rollups(session, keys)
    needles = {author_id}
    # External ids identify the erased posts inside stored samples; long ones only, so a
    # short id like "1" cannot match unrelated text.
    needles |= {row.external_id for row in deleted if len(row.external_id) >= 6}
    report = ErasureReport(
        author_id=author_id,
        mentions_deleted=len(deleted),
        rollup_keys_rebuilt=rebuilt,
        signals_scrubbed=await _scrub_table(session, SignalRow, "details", needles),
        incidents_scrubbed=await _scrub_table(session, IncidentRow, "details", needles),
        events_scrubbed=await _scrub_table(session, IncidentEventRow, "data", needles),
        notifications_scrubbed=await _scrub_table(session, OutboxRow, "payload", needles),
    )
    await audit.record(
        session, actor=actor, action="privacy.erase", target=author_id, details=report.model_dump()
    )
    return report


async def purge_expired(
    session: AsyncSession, older_than: timedelta, *, now: datetime | None = None
) -> PurgeReport:
    """Drop the mention (and author key) partitions wholly before now - `older_than`.

    Retention works in whole UTC days (shared/db/partitions.py): a day's mentions go when
    its last instant is past the cutoff. Rows of the DEFAULT partition (not yet moved into
    a day of their own) are deleted by row. Rollups are kept.
    """
    if older_than <= timedelta(0):
        raise BadInput("older_than must be positive")
    cutoff = (now or datetime.now(UTC)) - older_than
    mentions = 0
    dropped: list[str] = []
    for spec in SPECS:
        if spec.expires:
            names, rows = await partition_store.drop_expired(session, spec, cutoff)
            dropped += names
            if spec.table == "mentions":
                mentions = rows
    if mentions or dropped:
        await audit.record(
            session,
            actor="retention",
            action="privacy.purge",
            target="mentions",
            details={"cutoff": cutoff.isoformat(), "deleted": mentions, "partitions": dropped},
        )
    return PurgeReport(cutoff=cutoff, mentions_deleted=mentions, partitions_dropped=dropped)


async def housekeep(engine: AsyncEngine, retention: timedelta) -> PurgeReport:
    """One tick: purge, then create the partitions ahead and move DEFAULT rows out."""
    now = datetime.now(UTC)
    async with transaction(engine) as session:
        report = await purge_expired(session, retention, now=now)
    created = await partition_store.ensure_ahead(engine, now=now)
    for spec in SPECS:
        # Kept tables move every row; expiring ones only what retention keeps.
        since = report.cutoff if spec.expires else _EPOCH
        until = horizon(spec, now)
        created += await partition_store.split_default(engine, spec, since=since, until=until)
    if created:
        log.info("created partitions %s", ", ".join(created))
    return report


async def retention_loop(
    engine: AsyncEngine, *, retention: timedelta, interval_s: float, stop: asyncio.Event
) -> None:
    """Purge and maintain partitions every `interval_s` until `stop` is set (errors logged).

    A failed tick is tried again at the next interval whatever the error: the API keeps
    serving. Errors a retry cannot fix (`classify_db_error`) are logged as errors.
    """
    while not stop.is_set():
        try:
            report = await housekeep(engine, retention)
            if report.mentions_deleted:
                log.info("retention purge deleted %d mentions", report.mentions_deleted)
        except DB_ERRORS as exc:
            transient = classify_db_error(exc) == "transient"
            log.log(
                logging.WARNING if transient else logging.ERROR,
                "retention purge failed: %s",
                describe_db_error(exc),
            )
        if await wait_or_stop(stop, interval_s):
            return


def privacy_erase_cli(settings: IngestSettings, author: str, platform: str | None = None) -> int:
    """`crisiswatch privacy erase --author ... [--platform ...]`: print the report as JSON.

    `settings` is the ingest section: its database and the key that pseudonymised the ids.
    """
    from shared.db.engine import create_engine

    async def run() -> ErasureReport:
        engine = create_engine(settings)
        try:
            async with transaction(engine) as session:
                return await erase_author(
                    session,
                    author,
                    platform,
                    settings.pseudonym_secret.get_secret_value(),
                    actor="cli",
                )
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except BadInput as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    print(report.model_dump_json(indent=2))
    return 0
