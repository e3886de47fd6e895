"""The sentiment store against the real PostgreSQL: idempotent, exact rollups and authors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.privacy import erase_author
from services.ingest.core.normalize import pseudonymize
from services.sentiment.core.author_keys import author_key
from shared.db.engine import transaction
from shared.db.models import HourlyRollupRow, MentionRow, RollupRow
from shared.db.rollups import ALL_DIMENSIONS
from shared.schemas import Engagement
from shared.settings.ingest import DEV_PSEUDONYM_SECRET
from tests.integration.api.factories import scored, store

MINUTE = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)


async def _minute_rollup(engine: AsyncEngine, brand: str, topic: str = "") -> tuple[int, int]:
    """(volume, distinct authors) of the brand's minute rollups for `topic`, all dimensions."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(RollupRow.volume, RollupRow.distinct_authors).where(
                    RollupRow.brand == brand, RollupRow.minute == MINUTE, RollupRow.topic == topic
                )
            )
        ).all()
    return sum(r[0] for r in rows), sum(r[1] for r in rows)


async def _author_keys_stored(engine: AsyncEngine, brand: str, authors: list[str]) -> int:
    """How many of the authors' keys (brand, MINUTE, all topics, x, en) are stored."""
    keys = [author_key(brand, MINUTE, "", "x", "en", a) for a in authors]
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT count(*) FROM mention_rollup_authors "
                    "WHERE minute = :m AND author_key = ANY(:keys)"
                ),
                {"m": MINUTE, "keys": keys},
            )
        ).scalar_one()


async def test_author_key_is_the_same_in_python_and_sql(db_engine: AsyncEngine) -> None:
    pairs = [
        ("acme", MINUTE, "", "x", "en", "a_1"),
        ("Acme Corp", MINUTE + timedelta(minutes=7), "recall", "reddit", "zh", "a_é中🔥"),
        ('q"uote', datetime(1999, 12, 31, 23, 59, tzinfo=UTC), "x\\y", "bluesky", "und", "a"),
        ("acme", datetime(2038, 1, 19, 3, 15, tzinfo=UTC), "data_privacy", "x", "en", "z" * 128),
    ]
    async with db_engine.connect() as conn:
        for pair in pairs:
            in_sql = (
                await conn.execute(
                    text("SELECT crisiswatch_author_key(:b, :m, :t, :p, :l, :a)"),
                    dict(zip("bmtpla", pair, strict=True)),
                )
            ).scalar_one()
            assert in_sql == author_key(*pair), pair
    # Every part of the pair changes the key.
    base = pairs[0]
    variants = {author_key(*base[:i], f"{base[i]}!" if i != 1 else MINUTE + timedelta(minutes=1),
                           *base[i + 1 :]) for i in range(6)}  # fmt: skip
    assert len(variants | {author_key(*base)}) == 7


async def test_rollups_count_volume_and_distinct_authors_exactly(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"store-{unique}"
    bot = [
        scored(brand=brand, external_id=f"bot{i}", created_at=MINUTE + timedelta(seconds=i),
               author="bot", topics=["recall"])
        for i in range(6)
    ]  # fmt: skip
    people = [
        scored(brand=brand, external_id=f"p{i}", created_at=MINUTE + timedelta(seconds=20 + i),
               author=f"person{i}")
        for i in range(3)
    ]  # fmt: skip
    first = await store(db_engine, [*bot, *people])
    assert (first.inserted, first.duplicates) == (9, 0)
    assert await _minute_rollup(db_engine, brand) == (9, 4)
    assert await _minute_rollup(db_engine, brand, "recall") == (6, 1)

    # A replay of the same batch changes nothing.
    again = await store(db_engine, [*bot, *people])
    assert (again.inserted, again.duplicates) == (0, 9)
    assert await _minute_rollup(db_engine, brand) == (9, 4)

    # A later batch of the same minute: one known author, one new one.
    later = [
        scored(brand=brand, external_id="p0-second", created_at=MINUTE + timedelta(seconds=50),
               author="person0"),
        scored(brand=brand, external_id="new", created_at=MINUTE + timedelta(seconds=51),
               author="newcomer"),
    ]  # fmt: skip
    await store(db_engine, later)
    assert await _minute_rollup(db_engine, brand) == (11, 5)

    async with db_engine.connect() as conn:
        hourly = (
            await conn.execute(
                select(HourlyRollupRow.volume).where(
                    HourlyRollupRow.brand == brand,
                    HourlyRollupRow.topic == "",
                    HourlyRollupRow.platform == ALL_DIMENSIONS,
                )
            )
        ).scalar_one()
        stored = (
            await conn.execute(
                select(MentionRow.text, MentionRow.emotions, MentionRow.topics).where(
                    MentionRow.external_id == f"bot0@{brand}"
                )
            )
        ).one()
    assert hourly == 11
    assert stored.text == "the kettle broke"
    assert stored.emotions == {"anger": 0.8}
    assert stored.topics == ["recall"]


async def test_concurrent_stores_count_each_author_once(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"race-{unique}"
    batches = [
        [
            scored(brand=brand, external_id=f"w{w}-{i}", created_at=MINUTE + timedelta(seconds=i),
                   author=f"author{i % 7}")
            for i in range(40)
        ]
        for w in range(4)
    ]  # fmt: skip
    await asyncio.gather(*(store(db_engine, batch) for batch in batches))
    assert await _minute_rollup(db_engine, brand) == (160, 7)


async def test_updated_event_rewrites_the_row_without_growing_rollups(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"upd-{unique}"
    original = scored(brand=brand, external_id="m1", created_at=MINUTE)
    await store(db_engine, [original])
    edited_mention = original.mention.model_copy(
        update={"kind": "updated", "text": "edited text", "engagement": Engagement(likes=99)}
    )
    edited = original.model_copy(update={"mention": edited_mention})
    result = await store(db_engine, [edited])
    assert (result.inserted, result.updated) == (0, 1)
    async with db_engine.connect() as conn:
        row = (
            await conn.execute(
                select(MentionRow.text, MentionRow.likes, MentionRow.version).where(
                    MentionRow.external_id == f"m1@{brand}"
                )
            )
        ).one()
    assert tuple(row) == ("edited text", 99, 2)
    assert await _minute_rollup(db_engine, brand) == (1, 1)


AWKWARD = ['say "hi"', "back\\slash", "a,b", "{braces}", "NULL", "", " spaced ", "日本語", '\\"',
           "tab\there", "new\nline\r\n", "\\N", "\\t"]  # fmt: skip


async def test_every_column_keeps_awkward_values_exactly(
    db_engine: AsyncEngine, unique: str
) -> None:
    """Rows travel in COPY text format: tabs, newlines, backslashes and \\N must survive."""
    brand = f"copy-{unique}"
    awkward_text = "line one\n\tindented \\N back\\slash\r\nend 🔥 \\\\"
    item = scored(brand=brand, external_id="c1\tx", created_at=MINUTE, text=awkward_text,
                  keywords=AWKWARD, emotions={"anger": 0.1 + 0.2})  # fmt: skip
    item = item.model_copy(
        update={"mention": item.mention.model_copy(update={"source": {"q": 'a\\b\t"c"'}})}
    )
    assert (await store(db_engine, [item])).inserted == 1
    query = select(
        MentionRow.text, MentionRow.keywords, MentionRow.source, MentionRow.emotions,
        MentionRow.author_handle, MentionRow.url, MentionRow.created_at,
    ).where(MentionRow.external_id == f"c1\tx@{brand}")  # fmt: skip
    async with db_engine.connect() as conn:
        row = (await conn.execute(query)).one()
    assert row.text == awkward_text
    assert row.keywords == AWKWARD
    assert row.source == {"q": 'a\\b\t"c"'}
    assert row.emotions == {"anger": 0.1 + 0.2}  # the float reads back bit for bit
    assert (row.author_handle, row.url, row.created_at) == ("@user1", None, MINUTE)


async def test_array_columns_keep_awkward_strings_exactly(
    db_engine: AsyncEngine, unique: str
) -> None:
    brand = f"arr-{unique}"
    original = scored(brand=brand, external_id="m1", created_at=MINUTE, keywords=AWKWARD,
                      hashtags=AWKWARD[:4], topics=[])  # fmt: skip
    await store(db_engine, [original])
    query = select(MentionRow.keywords, MentionRow.hashtags, MentionRow.topics).where(
        MentionRow.external_id == f"m1@{brand}"
    )
    async with db_engine.connect() as conn:
        assert tuple((await conn.execute(query)).one()) == (AWKWARD, AWKWARD[:4], [])
    # The update path binds the same literals.
    edited = original.model_copy(
        update={
            "mention": original.mention.model_copy(update={"kind": "updated"}),
            "keywords": list(reversed(AWKWARD)),
            "topics": ["recall", 'x"y'],
        }
    )
    assert (await store(db_engine, [edited])).updated == 1
    async with db_engine.connect() as conn:
        row = (await conn.execute(query)).one()
    assert tuple(row) == (list(reversed(AWKWARD)), AWKWARD[:4], ["recall", 'x"y'])


async def test_erasure_rebuilds_volume_and_authors(db_engine: AsyncEngine, unique: str) -> None:
    brand = f"erase-{unique}"
    items = [
        scored(brand=brand, external_id=f"e{i}", created_at=MINUTE + timedelta(seconds=i),
               author=f"gone-{unique}" if i < 3 else f"stays{i}")
        for i in range(6)
    ]  # fmt: skip
    await store(db_engine, items)
    assert await _minute_rollup(db_engine, brand) == (6, 4)
    async with transaction(db_engine) as session:
        report = await erase_author(session, f"gone-{unique}", "x", DEV_PSEUDONYM_SECRET)
    assert await _minute_rollup(db_engine, brand) == (3, 3)
    # The erased author left no trace in the per-minute author table either; the others stay.
    stays = [pseudonymize("x", f"stays{i}", DEV_PSEUDONYM_SECRET.encode()) for i in (3, 4, 5)]
    assert await _author_keys_stored(db_engine, brand, [report.author_id]) == 0
    assert await _author_keys_stored(db_engine, brand, stays) == 3
    # New mentions after the erasure still count authors incrementally.
    await store(
        db_engine,
        [scored(brand=brand, external_id="e-late", created_at=MINUTE, author="stays3")],
    )
    assert await _minute_rollup(db_engine, brand) == (4, 3)
