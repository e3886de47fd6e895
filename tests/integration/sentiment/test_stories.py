"""Stories end to end in the sentiment worker: enrichment in two child processes, stories
assigned in the worker, stored on each mention and summarised in `stories`, published on
`mentions.scored`, the brand's chatter kept apart as its background, and a replay that
changes no story."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.sentiment.core.stories import StoryClusterer
from services.sentiment.core.story_snapshot import load_state
from services.sentiment.metrics import SentimentMetrics
from services.sentiment.service import build_stage, build_worker, running, story_params
from shared import serde
from shared.db.models import MentionRow, StoryRow, StoryStateRow
from shared.schemas import Mention, ScoredMention
from shared.settings.sentiment import SentimentSettings
from tests.fault_helpers import mention, produce
from tests.kafka_helpers import read_topic, wait_for

FIRE = [
    ("en", "My Voltix battery caught fire in the kitchen last night, terrifying"),
    ("es", "La batería de Voltix se incendió en mi cocina anoche"),
    ("zh", "我的Voltix电池昨晚在厨房着火了"),
    ("en", "Voltix power bank exploded and burned my desk"),
    ("es", "El cargador Voltix explotó y quemó mi escritorio"),
    ("zh", "Voltix充电宝爆炸了，烧坏了我的桌子"),
    ("en", "Another Voltix battery fire, this is dangerous"),
]
# Everyday talk about the brand comes first, over two days: every mention names it, which
# the clusterer takes out as the brand's mean, and the story this talk forms becomes the
# brand's background (`core/story_background.py`).
CHATTER = [
    "Just got my new Voltix charger", "Voltix store opens at nine tomorrow",
    "Is the Voltix 20k worth it?", "Voltix shipping took three days",
    "Comparing Voltix and Anker power banks", "Voltix app update is out",
    "My Voltix cable is two metres long", "Anyone using Voltix in Madrid?",
    "Voltix support answered my email", "Voltix has a sale this weekend",
] * 3  # fmt: skip
AD = [
    "Loved the new Voltix ad with the dancing robots, so funny",
    "That Voltix commercial with the robots is hilarious",
    "The robot dance in the Voltix ad made my day",
]


def _named(brand: str, text: str) -> str:
    """`text` naming the brand by its key, as mentions do."""
    return text.replace("Voltix", brand.capitalize())


def _items(brand: str) -> tuple[list[Mention], list[Mention], list[Mention], Mention]:
    start = datetime.now(UTC) - timedelta(minutes=30)
    chatter = [
        mention(brand, f"{brand}-chat-{i}", text=_named(brand, text),
                created_at=start - timedelta(minutes=90 * (len(CHATTER) - i)))
        for i, text in enumerate(CHATTER)
    ]  # fmt: skip
    fire = [
        mention(brand, f"{brand}-fire-{i}", text=_named(brand, text),
                created_at=start + timedelta(minutes=2 * i))
        for i, (_, text) in enumerate(FIRE)
    ]  # fmt: skip
    ad = [
        mention(brand, f"{brand}-ad-{i}", text=_named(brand, text),
                created_at=start + timedelta(minutes=2 * i + 1))
        for i, text in enumerate(AD)
    ]  # fmt: skip
    # Says nothing about the fire, but answers its first post: joins its story.
    reply = mention(
        brand, f"{brand}-reply", text="omg are you ok??", created_at=start + timedelta(minutes=20)
    ).model_copy(update={"in_reply_to": f"{brand}-fire-0"})
    return chatter, fire, ad, reply


async def _stories(engine: AsyncEngine, brand: str) -> dict[str, str | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(MentionRow.external_id, MentionRow.story_id).where(MentionRow.brand == brand)
        )
        return {external_id: story for external_id, story in rows}


async def _stored(engine: AsyncEngine, brand: str, items: list[Mention]) -> dict[str, str | None]:
    """The brand's stored story ids once every one of `items` is stored."""
    return await wait_for(
        lambda: _stories(engine, brand),
        lambda s: all(m.external_id in s for m in items),
        timeout_s=120,
    )


async def test_mentions_get_stories_across_languages_and_processes(
    settings_factory: Any, db_engine: AsyncEngine
) -> None:
    # The texts name the brand by its key, as real mentions do; a fixed key (no other test
    # uses it; topics and the consumer group are this test's own) keeps the sentence vectors,
    # and so the stories, the same from run to run (docs/stories.md: on 1 of 25 random keys
    # the advert's first mention joins the fire's story).
    brand = "voltixstories"
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_batch_size=4,  # several batches, each split between the two children
        sentiment_enrich_processes=2,
        sentiment_transformer_enabled=False,
        sentiment_story_background_likeness=0.95,  # else the clusterer's defaults
    )
    chatter, fire, ad, reply = _items(brand)
    items = sorted([*chatter, *fire, *ad, reply], key=lambda m: m.created_at)
    await produce(settings.bootstrap_servers, settings.topic_raw, items)
    stage = await build_stage(settings, None)
    try:
        worker = build_worker(settings, stage, SentimentMetrics(CollectorRegistry()))
        async with running(worker):
            stored = await wait_for(
                lambda: _stories(db_engine, brand), lambda s: len(s) >= len(items), timeout_s=120
            )
            scored = await read_topic(
                settings.bootstrap_servers, settings.topic_scored, expected=len(items)
            )
    finally:
        await stage.close()

    fire_story = {stored[m.external_id] for m in fire}
    ad_story = {stored[m.external_id] for m in ad}
    assert len(fire_story) == 1 and len(ad_story) == 1 and fire_story != ad_story, stored
    (story_id,) = fire_story
    chatter_stories = {stored[m.external_id] for m in chatter}
    assert not fire_story & chatter_stories and not ad_story & chatter_stories
    assert stored[reply.external_id] == story_id
    decoded = [serde.decode(ScoredMention, r.value) for r in scored]
    published = {s.mention.external_id: s.story_id for s in decoded}
    assert published == stored
    # The chatter's story is the brand's background (once it has lasted half a day): its
    # mentions say so on the scored topic, and its row is marked; the fire's is not.
    background = {s.story_id for s in decoded if s.story_background}
    assert len(background) == 1 and background <= chatter_stories
    late = [s for s in decoded if s.mention.external_id.startswith(f"{brand}-chat-")][-10:]
    assert sum(s.story_background for s in late) >= 5
    assert not any(s.story_background for s in decoded if s.story_id in fire_story | ad_story)

    async with db_engine.connect() as conn:
        row = (await conn.execute(select(StoryRow).where(StoryRow.id == story_id))).one()
        marked = (
            await conn.execute(
                select(StoryRow.id).where(StoryRow.brand == brand, StoryRow.background)
            )
        ).scalars()
        assert set(marked) == background
    assert row.brand == brand and row.volume == len(fire) + 1 and not row.background
    assert {"en", "es", "zh"} <= set(row.languages)
    assert {"en", "es", "zh"} <= set(row.representatives)
    assert row.first_seen == fire[0].created_at and row.last_seen == reply.created_at
    assert 0 < row.negative_share <= 1 and row.label and row.top_phrases

    # A replay of the same mentions (a new worker, fresh clustering) changes no stored story.
    sentinel = mention(brand, f"{brand}-sentinel", text=_named(brand, "Voltix battery fire again"))
    await produce(settings.bootstrap_servers, settings.topic_raw, [*items, sentinel])
    replay_settings = settings.model_copy(update={"sentiment_enrich_processes": 0})
    stage = await build_stage(replay_settings, None)
    try:
        worker = build_worker(replay_settings, stage, SentimentMetrics(CollectorRegistry()))
        async with running(worker):
            after = await _stored(db_engine, brand, [sentinel])
    finally:
        await stage.close()
    assert {k: v for k, v in after.items() if k != sentinel.external_id} == stored
    async with db_engine.connect() as conn:
        volume = (
            await conn.execute(select(StoryRow.volume).where(StoryRow.id == story_id))
        ).scalar_one()
    # The replay rebuilt the same stories, so the new fire mention joins the fire story, and
    # only it counts again.
    assert after[sentinel.external_id] == story_id
    assert volume == len(fire) + 2


async def test_a_restarted_worker_goes_on_with_the_saved_stories(
    settings_factory: Any, db_engine: AsyncEngine
) -> None:
    """A story that goes on across a restart of the worker keeps its id: the first worker
    saves the brand's clustering state as it goes (and when it stops), the next one
    restores it."""
    brand = "voltixrestart"  # a fixed key, as above: the same vectors from run to run
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_enrich_processes=0,
        sentiment_transformer_enabled=False,
        sentiment_story_save_s=3600.0,  # only the save on stopping
        sentiment_story_save_size=0,  # and no early save of a growing story
    )
    chatter, fire, _, reply = _items(brand)
    before = sorted([*chatter, *fire[:3]], key=lambda m: m.created_at)
    after = [*fire[3:], reply]

    async def saved_version() -> int | None:
        async with db_engine.connect() as conn:
            q = select(StoryStateRow.version).where(StoryStateRow.brand == brand)
            return (await conn.execute(q)).scalar_one_or_none()

    async def run(items: list[Mention], **overrides: Any) -> dict[str, str | None]:
        await produce(settings.bootstrap_servers, settings.topic_raw, items)
        worker_settings = settings.model_copy(update=overrides)
        stage = await build_stage(worker_settings, None)
        try:
            worker = build_worker(worker_settings, stage, SentimentMetrics(CollectorRegistry()))
            async with running(worker):
                stored = await _stored(db_engine, brand, items)
                if overrides:  # saving as it goes: saved before it stops (a crash loses less)
                    assert await wait_for(saved_version, bool, timeout_s=30) == 1
                return stored
        finally:
            await stage.close()

    first = await run(before, sentiment_story_save_s=0.2)
    (story_id,) = {first[m.external_id] for m in fire[:3]}
    async with db_engine.connect() as conn:
        saved = (
            await conn.execute(select(StoryStateRow).where(StoryStateRow.brand == brand))
        ).one()
    assert saved.version == 1 and saved.writer.startswith(settings.sentiment_group_id)
    stored = await run(after)  # a new worker: a fresh clusterer, restored from the save
    assert {stored[m.external_id] for m in after} == {story_id}
    assert await saved_version() == 2  # the second worker saved on stopping too


async def test_a_brand_whose_partition_moves_keeps_its_story(
    settings_factory: Any, db_engine: AsyncEngine
) -> None:
    """A second worker joins mid-story: the first saves every brand's state when the
    rebalance takes its partitions and forgets them, and whichever worker holds the brand
    next goes on from the save."""
    brand = "voltixmoves"  # a fixed key, as above
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_enrich_processes=0,
        sentiment_transformer_enabled=False,
        sentiment_story_save_s=3600.0,  # no periodic save in this test: only the rebalance's
        sentiment_story_save_size=0,
    )
    chatter, fire, _, reply = _items(brand)
    before = sorted([*chatter, *fire[:3]], key=lambda m: m.created_at)
    after = [*fire[3:], reply]
    stages = [await build_stage(settings, None) for _ in range(2)]
    workers = [
        build_worker(settings, stage, SentimentMetrics(CollectorRegistry())) for stage in stages
    ]
    try:
        async with running(workers[0]):
            await produce(settings.bootstrap_servers, settings.topic_raw, before)
            first = await _stored(db_engine, brand, before)
            (story_id,) = {first[m.external_id] for m in fire[:3]}
            async with running(workers[1]):

                async def split() -> list[list[tuple[str, int]]]:
                    return [w.consumer.assignment() for w in workers]

                held = await wait_for(split, lambda h: all(h) and sum(map(len, h)) == 3)
                assert all(held), held
                await produce(settings.bootstrap_servers, settings.topic_raw, after)
                stored = await _stored(db_engine, brand, after)
    finally:
        for stage in stages:
            await stage.close()
    assert {stored[m.external_id] for m in after} == {story_id}


async def test_a_story_big_enough_to_page_survives_a_crash(
    settings_factory: Any, db_engine: AsyncEngine
) -> None:
    """No round of saves in this test: the brand is saved in the batch its story reaches
    `sentiment_story_save_size` mentions. The worker then crashes (the state saved before
    it stopped is put back: a crash saves nothing on the way out), and the next worker goes
    on with the story's id."""
    brand = "voltixcrash"  # a fixed key, as above
    settings: SentimentSettings = settings_factory(
        SentimentSettings,
        sentiment_enrich_processes=0,
        sentiment_transformer_enabled=False,
        sentiment_story_save_s=3600.0,
        sentiment_story_save_size=3,
    )
    chatter, fire, _, reply = _items(brand)
    before = sorted([*chatter, *fire[:3]], key=lambda m: m.created_at)
    after = [*fire[3:], reply]
    dims = StoryClusterer(story_params(settings)).dims

    async def saved_state() -> bytes | None:
        async with db_engine.connect() as conn:
            q = select(StoryStateRow.state).where(StoryStateRow.brand == brand)
            return (await conn.execute(q)).scalar_one_or_none()

    def holds(story_id: str) -> Callable[[bytes | None], bool]:
        return lambda data: data is not None and story_id in load_state(data, dims=dims).ids

    async def run(items: list[Mention], *, crash: bool = False) -> dict[str, str | None]:
        await produce(settings.bootstrap_servers, settings.topic_raw, items)
        stage = await build_stage(settings, None)
        try:
            worker = build_worker(settings, stage, SentimentMetrics(CollectorRegistry()))
            async with running(worker):
                stored = await _stored(db_engine, brand, items)
                if crash:  # the story's third mention saved the brand: take that save
                    story_id = stored[fire[2].external_id]
                    assert story_id is not None
                    saved = await wait_for(saved_state, holds(story_id), timeout_s=30)
        finally:
            await stage.close()
        if crash:  # what a crash leaves: the save made before the worker stopped
            async with db_engine.begin() as conn:
                q = update(StoryStateRow).where(StoryStateRow.brand == brand)
                await conn.execute(q.values(state=saved))
        return stored

    first = await run(before, crash=True)
    (story_id,) = {first[m.external_id] for m in fire[:3]}
    stored = await run(after)
    assert {stored[m.external_id] for m in after} == {story_id}
