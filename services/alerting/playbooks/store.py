"""Playbooks in PostgreSQL, the source of truth: read, replace, delete, import; what runs.

Until a playbook is stored, the packaged YAML playbooks (`definitions/`) are the set; the
first write stores them first (the seed), so the table then holds the whole set. Every write
is checked against the whole set (known categories, one playbook per category, a generic
one) and audited in the caller's transaction.

Whoever starts a playbook or quotes its holding statements reads the set through
`active_playbooks`, which parses it again only when its fingerprint changed: an edit through
the API applies to the next incident, without a restart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerting.playbooks.loader import FALLBACK, check_playbook_set, default_playbooks
from services.alerting.playbooks.models import Playbook
from shared.db.config_models import PlaybookRow
from shared.errors import BadInput, ConfigError, Conflict, NotFound
from shared.http import audit

log = logging.getLogger(__name__)

_FINGERPRINT = text(
    "SELECT coalesce(md5(string_agg(name || '@' || updated_at::text || '@' || "
    "md5(definition::text), ',' ORDER BY name)), '') FROM playbooks"
)


def as_document(playbook: Playbook) -> dict[str, Any]:
    """The playbook as its YAML file says it (durations in minutes, e.g. `90m`)."""
    return {
        "name": playbook.name,
        "title": playbook.title,
        "category": playbook.category,
        "steps": [
            {
                "title": step.title,
                "owner_role": step.owner_role,
                "due_after": f"{int(step.due_after.total_seconds() // 60)}m",
                "channels": list(step.channels),
                **({"description": step.description} if step.description else {}),
            }
            for step in playbook.steps
        ],
        "holding_statements": dict(playbook.holding_statements),
    }


@dataclass
class _Parsed:
    """The last set parsed from the table, and the fingerprint it was parsed at."""

    fingerprint: str | None = None
    playbooks: dict[str, Playbook] = field(default_factory=dict)


_LAST = _Parsed()


async def playbooks_fingerprint(session: AsyncSession) -> str:
    """A value that changes whenever a playbook is stored, replaced or deleted."""
    return str((await session.execute(_FINGERPRINT)).scalar_one())


def _parse(rows: list[PlaybookRow]) -> dict[str, Playbook]:
    """Valid stored playbooks; one that no longer validates is left out with its reason."""
    books: dict[str, Playbook] = {}
    for row in rows:
        try:
            books[row.name] = Playbook.model_validate(row.definition)
        except ValidationError as exc:
            log.error("stored playbook %s is invalid and left out: %s", row.name, exc)
    if not any(book.category == FALLBACK for book in books.values()):
        generic = next(b for b in default_playbooks().values() if b.category == FALLBACK)
        books[generic.name] = generic
    return books


async def active_playbooks(session: AsyncSession) -> dict[str, Playbook]:
    """The playbooks in force: the stored ones, or the packaged ones while none is stored."""
    fingerprint = await playbooks_fingerprint(session)
    if fingerprint == _LAST.fingerprint:
        return dict(_LAST.playbooks)
    if not fingerprint:
        books = dict(default_playbooks())
    else:
        books = _parse(list((await session.scalars(select(PlaybookRow))).all()))
    _LAST.fingerprint, _LAST.playbooks = fingerprint, books
    return dict(books)


async def get_playbook(session: AsyncSession, *, name: str) -> Playbook:
    """One playbook in force."""
    book = (await active_playbooks(session)).get(name)
    if book is None:
        raise NotFound(f"playbook {name!r} does not exist")
    return book


async def _seed(session: AsyncSession, *, actor: str) -> None:
    """Store the packaged playbooks when none is stored yet (the first write's seed)."""
    if await session.scalar(select(func.count()).select_from(PlaybookRow)):
        return
    books = default_playbooks()
    for book in books.values():
        await _upsert(session, book)
    await audit.record(
        session,
        actor=actor,
        action="playbook.seed",
        target="playbooks",
        details={"names": sorted(books)},
    )


async def _upsert(session: AsyncSession, playbook: Playbook) -> None:
    values = {
        "name": playbook.name,
        "category": playbook.category,
        "definition": as_document(playbook),
    }
    stmt = insert(PlaybookRow).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PlaybookRow.name],
            set_={"category": stmt.excluded.category, "definition": stmt.excluded.definition,
                  "updated_at": func.now()},
        )
    )  # fmt: skip


def _check(books: dict[str, Playbook], playbook: Playbook) -> None:
    """Refuse `playbook` when it would break the set it joins."""
    for other in books.values():
        if other.category == playbook.category and other.name != playbook.name:
            raise Conflict(
                f"category {playbook.category!r} is served by playbook {other.name!r}; "
                "change or delete that one first"
            )
    try:
        check_playbook_set({**books, playbook.name: playbook}, where="playbooks")
    except ConfigError as exc:
        raise BadInput(f"playbook {playbook.name}: {exc}") from None


async def put_playbook(
    session: AsyncSession, *, name: str, playbook: Playbook, actor: str
) -> tuple[Playbook, bool]:
    """Create or replace playbook `name`; return it and whether it was created."""
    if playbook.name != name:
        raise BadInput(f"body name {playbook.name!r} differs from the path name {name!r}")
    await _seed(session, actor=actor)
    books = await _stored(session)
    _check(books, playbook)
    before = books.get(name)
    await _upsert(session, playbook)
    await audit.record(
        session,
        actor=actor,
        action="playbook.put",
        target=f"playbook:{name}",
        details={
            "before": as_document(before) if before is not None else None,
            "after": as_document(playbook),
        },
    )
    return playbook, before is None


async def delete_playbook(session: AsyncSession, *, name: str, actor: str) -> None:
    """Delete a playbook; its category falls back to the generic one (never deletable)."""
    book = await get_playbook(session, name=name)  # NotFound before anything is seeded
    if book.category == FALLBACK:
        raise Conflict(f"playbook {name!r} is the {FALLBACK} fallback: replace it, not delete it")
    await _seed(session, actor=actor)
    row = await session.get(PlaybookRow, name)
    if row is None:
        raise NotFound(f"playbook {name!r} does not exist")
    await audit.record(
        session,
        actor=actor,
        action="playbook.delete",
        target=f"playbook:{name}",
        details={"definition": row.definition},
    )
    await session.delete(row)
    await session.flush()


async def import_playbooks(
    session: AsyncSession, playbooks: list[Playbook], *, actor: str
) -> dict[str, list[str]]:
    """Store `playbooks` (each checked against the set); return the names created, replaced."""
    done: dict[str, list[str]] = {"created": [], "replaced": []}
    for playbook in playbooks:
        _, created = await put_playbook(session, name=playbook.name, playbook=playbook, actor=actor)
        done["created" if created else "replaced"].append(playbook.name)
    return done


async def _stored(session: AsyncSession) -> dict[str, Playbook]:
    """The stored set as the caller's transaction sees it (uncommitted writes included)."""
    return _parse(list((await session.scalars(select(PlaybookRow))).all()))
