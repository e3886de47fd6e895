"""Mention search: filters and keyset cursors on (created_at, id); the CSV export is `export`."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.analytics.schemas import MentionFilter, MentionPage, MentionRead
from shared.db.models import MentionRow
from shared.errors import BadInput


def brand_match(brand: str) -> ColumnElement[bool]:
    """Mentions that name `brand` (primary or co-mentioned)."""
    return MentionRow.brands.contains([brand])


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so user text matches literally (escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(created_at: datetime, mention_id: int) -> str:
    """Opaque keyset cursor on (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), mention_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Parse a cursor made by `encode_cursor`; raise `BadInput` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_iso, mention_id = json.loads(raw)
        created_at = datetime.fromisoformat(created_iso)
        if created_at.tzinfo is None or not isinstance(mention_id, int):
            raise ValueError("bad cursor")
        return created_at, mention_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadInput("cursor is not valid; use the next_cursor of a previous page") from exc


def search_conditions(f: MentionFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.brand:
        conditions.append(brand_match(f.brand))
    if f.start is not None or f.end is not None:
        try:
            if f.start is not None:
                conditions.append(MentionRow.created_at >= f.start.astimezone(UTC))
            if f.end is not None:
                conditions.append(MentionRow.created_at < f.end.astimezone(UTC))
        except (OverflowError, ValueError) as exc:
            raise BadInput("start/end are outside the supported date range") from exc
    if f.sentiment == "unscored":
        conditions.append(MentionRow.sentiment_label.is_(None))
    elif f.sentiment:
        conditions.append(MentionRow.sentiment_label == f.sentiment)
    if f.emotion:
        conditions.append(MentionRow.emotion == f.emotion)
    if f.topic:
        conditions.append(MentionRow.topics.contains([f.topic]))
    if f.language:
        conditions.append(MentionRow.language == f.language)
    if f.platform:
        conditions.append(MentionRow.platform == f.platform)
    if f.min_reach is not None:
        conditions.append(MentionRow.author_reach >= f.min_reach)
    if f.q:
        pattern = f"%{escape_like(f.q)}%"
        conditions.append(
            or_(
                MentionRow.text.ilike(pattern, escape="\\"),
                MentionRow.keywords.contains([f.q.lower()]),
            )
        )
    return conditions


def _to_read(row: MentionRow, *, show_handles: bool) -> MentionRead:
    return MentionRead(
        id=row.id,
        platform=row.platform,
        external_id=row.external_id,
        brand=row.brand,
        brands=list(row.brands),
        url=row.url,
        author_id=row.author_id,
        author_handle=row.author_handle if show_handles else None,
        author_reach=row.author_reach,
        text=row.text,
        language=row.language,
        created_at=row.created_at,
        sentiment_label=row.sentiment_label,
        sentiment_score=row.sentiment_score,
        emotion=row.emotion,
        topics=list(row.topics or []),
        keywords=list(row.keywords or []),
        hashtags=list(row.hashtags or []),
        likes=row.likes,
        shares=row.shares,
        replies=row.replies,
        views=row.views,
    )


async def search_mentions(
    session: AsyncSession,
    *,
    criteria: MentionFilter,
    limit: int,
    cursor: str | None = None,
    show_handles: bool = False,
) -> MentionPage:
    """Mentions matching `criteria`, newest first, keyset-paginated on (created_at, id)."""
    stmt = select(MentionRow).where(*search_conditions(criteria))
    if cursor:
        created_at, mention_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(MentionRow.created_at, MentionRow.id) < (created_at, mention_id))
    stmt = stmt.order_by(MentionRow.created_at.desc(), MentionRow.id.desc()).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return MentionPage(
        items=[_to_read(r, show_handles=show_handles) for r in rows], next_cursor=next_cursor
    )
