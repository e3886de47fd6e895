"""CSV export of mention search: every matching row, streamed in keyset-paginated chunks.

Memory stays bounded by one chunk whatever the number of rows: each chunk is one short
read (no transaction held open while the client downloads), continuing after the last
(created_at, id) sent, newest first as in search. Cells are formula-safe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from services.analytics.mentions import decode_cursor, search_conditions
from services.analytics.schemas import MentionFilter
from shared.db.models import MentionRow

CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "platform",
    "brand",
    "author_id",
    "author_reach",
    "language",
    "sentiment_label",
    "sentiment_score",
    "emotion",
    "topics",
    "hashtags",
    "likes",
    "shares",
    "replies",
    "views",
    "url",
    "text",
)
CHUNK_ROWS = 1000
_CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str | int | float:
    """A CSV cell that spreadsheets will not evaluate as a formula; numbers stay numbers."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if value is None:
        text = ""
    elif isinstance(value, list):
        text = " ".join(str(v) for v in value)
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    if text.startswith(_CSV_DANGEROUS):
        return "'" + text
    return text


def csv_text(rows: Sequence[Sequence[Any]], *, header: bool = False) -> str:
    """Rows (in `CSV_COLUMNS` order) as formula-safe CSV, with the header row first if asked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


class MentionExport:
    """The CSV of every mention matching a search, produced chunk by chunk.

    Built before the response starts, so a bad filter or cursor is a 4xx, not a cut stream.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        criteria: MentionFilter,
        *,
        cursor: str | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self._engine = engine
        self._conditions: list[ColumnElement[bool]] = search_conditions(criteria)
        self._after = decode_cursor(cursor) if cursor else None
        self._chunk_rows = chunk_rows

    async def _chunk(self, after: tuple[datetime, int] | None) -> Sequence[Row[Any]]:
        columns = [getattr(MentionRow, c) for c in CSV_COLUMNS]
        stmt = select(*columns).where(*self._conditions)
        if after is not None:
            stmt = stmt.where(tuple_(MentionRow.created_at, MentionRow.id) < after)
        stmt = stmt.order_by(MentionRow.created_at.desc(), MentionRow.id.desc())
        async with self._engine.connect() as conn:
            return (await conn.execute(stmt.limit(self._chunk_rows))).all()

    async def stream(self) -> AsyncIterator[str]:
        """Yield the header, then one CSV block per chunk until no row is left."""
        yield csv_text([], header=True)
        after = self._after
        while True:
            rows = await self._chunk(after)
            if rows:
                yield csv_text(rows)
            if len(rows) < self._chunk_rows:
                return
            after = (rows[-1].created_at, rows[-1].id)
