"""The story clusterer: joins, opens, evidence, budget, decay, merges, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from services.sentiment.core.stories import (
    StoryClusterer,
    StoryMention,
    StoryParams,
    extract_urls,
    story_id_for,
)

DIM = 8


def P(**kw: float) -> StoryParams:
    """Parameters without the brand background, so the geometry below is exact."""
    return StoryParams(**{"background": 0.0, **kw})  # type: ignore[arg-type]


def unit(*weights: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


def m(
    key: str, at: float, vector: np.ndarray, brand: str = "acme", **kw: tuple[str, ...]
) -> StoryMention:
    return StoryMention(key=key, brand=brand, at=at, vector=vector, **kw)


def test_similar_mentions_join_and_different_ones_open_a_story() -> None:
    clusterer = StoryClusterer(P(threshold=0.6), dim=DIM)
    first = clusterer.assign(m("1", 0, unit(1, 0.1)))
    second = clusterer.assign(m("2", 60, unit(1, 0.2)))
    other = clusterer.assign(m("3", 120, unit(0, 0, 1)))
    assert first.opened and first.story_id == story_id_for("acme", "1")
    assert not second.opened and second.story_id == first.story_id and second.similarity > 0.9
    assert other.opened and other.story_id != first.story_id


def test_brands_never_share_stories() -> None:
    clusterer = StoryClusterer(P(), dim=DIM)
    a = clusterer.assign(m("1", 0, unit(1), brand="acme"))
    b = clusterer.assign(m("2", 0, unit(1), brand="globex"))
    assert b.opened and a.story_id != b.story_id


def test_a_reply_joins_the_story_of_the_post_it_answers() -> None:
    clusterer = StoryClusterer(P(threshold=0.9), dim=DIM)
    post = clusterer.assign(m("x:1", 0, unit(1)))
    clusterer.assign(m("x:2", 1, unit(0, 1)))
    reply = clusterer.assign(m("x:3", 2, unit(0, 0, 1), refs=("x:1",)))
    assert reply.story_id == post.story_id


def test_shared_hashtag_or_link_tips_a_borderline_mention_in() -> None:
    params = P(threshold=0.7, hashtag_bonus=0.2, url_bonus=0.2, merge_threshold=1.01)
    borderline = unit(1, 0, 1.3)  # cosine 0.61 with story (1, 0, 0): short of 0.7
    for evidence in ({"hashtags": ("#fire",)}, {"urls": ("https://ex.com/a",)}):
        plain = StoryClusterer(params, dim=DIM)
        plain.assign(m("1", 0, unit(1)))
        plain.assign(m("2", 1, unit(0, 1)))
        assert plain.assign(m("3", 2, borderline)).opened
        clusterer = StoryClusterer(params, dim=DIM)
        story = clusterer.assign(m("1", 0, unit(1), **evidence))
        assert clusterer.assign(m("2", 1, unit(0, 1))).opened
        joined = clusterer.assign(m("3", 2, borderline, **evidence))
        assert joined.story_id == story.story_id, evidence


def test_budget_evicts_the_stalest_story() -> None:
    clusterer = StoryClusterer(P(threshold=0.9, budget=2), dim=DIM)
    old = clusterer.assign(m("1", 0, unit(1)))
    clusterer.assign(m("2", 10, unit(0, 1)))
    clusterer.assign(m("3", 20, unit(0, 0, 1)))  # evicts story 1
    assert clusterer.open_stories("acme") == 2
    again = clusterer.assign(m("4", 30, unit(1)))
    assert again.opened and again.story_id != old.story_id


def test_idle_stories_close() -> None:
    clusterer = StoryClusterer(P(idle_s=3600), dim=DIM)
    first = clusterer.assign(m("1", 0, unit(1)))
    later = clusterer.assign(m("2", 7200, unit(1)))
    assert later.opened and later.story_id != first.story_id


def test_decay_lets_the_centroid_follow_the_story() -> None:
    def drifted(half_life_s: float) -> float:
        clusterer = StoryClusterer(P(threshold=0.0, half_life_s=half_life_s), dim=DIM)
        for i in range(20):
            clusterer.assign(m(f"a{i}", i, unit(1)))
        clusterer.assign(m("b", 10_000, unit(1, 1)))
        return clusterer.assign(m("c", 10_001, unit(0, 1))).similarity

    assert drifted(60.0) > drifted(1e9) + 0.2


def test_converging_stories_merge() -> None:
    clusterer = StoryClusterer(P(threshold=0.75, merge_threshold=0.8), dim=DIM)
    a = clusterer.assign(m("1", 0, unit(1, 0)))
    b = clusterer.assign(m("2", 1, unit(1, 1.2)))
    assert b.opened
    merges = [clusterer.assign(m(f"{i}", 2 + i, unit(1, 0.6))) for i in range(3, 9)]
    merged = [x for x in merges if x.merged]
    assert merged and {merged[0].story_id, *merged[0].merged} == {a.story_id, b.story_id}
    assert clusterer.open_stories("acme") == 1
    # A reply to a post of the story that merged away joins the story it merged into.
    reply = clusterer.assign(m("r", 20, unit(0, 0, 1), refs=("2",)))
    assert reply.story_id == merged[0].story_id


def test_same_input_same_stories() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    mentions = [m(str(i), i * 30.0, vectors[i]) for i in range(300)]
    first = [a.story_id for a in StoryClusterer(P(), dim=DIM).assign_all(mentions)]
    second = [a.story_id for a in StoryClusterer(P(), dim=DIM).assign_all(mentions)]
    assert first == second and len(set(first)) > 1


def test_params_are_checked() -> None:
    with pytest.raises(ValueError):
        StoryParams(budget=0)


def test_urls_are_read_from_text() -> None:
    assert extract_urls("see https://Ex.com/a, and www.b.org/x.") == [
        "https://ex.com/a",
        "www.b.org/x",
    ]


def test_what_every_mention_of_the_brand_shares_is_taken_out() -> None:
    """Two stories that share the brand's common direction (axis 0) only split once that
    direction is removed as background."""

    def stories(background: float) -> int:
        clusterer = StoryClusterer(P(threshold=0.5, background=background, merge_threshold=1.01),
                                   dim=DIM)  # fmt: skip
        brand_talk = [m(f"b{i}", i, unit(1, 0, 0, 0.3 * (-1) ** i)) for i in range(40)]
        a = [m(f"a{i}", 100 + i, unit(1, 0.6)) for i in range(5)]
        b = [m(f"c{i}", 200 + i, unit(1, 0, 0.6)) for i in range(5)]
        found = clusterer.assign_all([*brand_talk, *a, *b])
        return len({x.story_id for x in found[40:]})

    assert stories(0.0) == 1
    assert stories(1.0) == 2


def test_slots_grow_up_to_the_budget_then_evict() -> None:
    dim = 16
    clusterer = StoryClusterer(P(threshold=0.9, budget=10), dim=dim)
    basis = np.eye(dim, dtype=np.float32)
    opened = [clusterer.assign(m(str(i), i, basis[i])) for i in range(10)]
    assert all(a.opened for a in opened) and clusterer.open_stories("acme") == 10
    assert not clusterer.assign(m("again", 20, basis[9])).opened  # stories survive growth
    clusterer.assign(m("new", 30, basis[10]))  # evicts story 0, the stalest
    assert clusterer.open_stories("acme") == 10
    assert clusterer.assign(m("back", 40, basis[0])).story_id != opened[0].story_id


def _two_named_stories(clusterer: StoryClusterer) -> tuple[str, str]:
    """Story A about Manila along axis 0, story B about Alberta along axis 1."""
    for i in range(3):
        a = clusterer.assign(m(f"a{i}", i, unit(1, 0.05 * i), entities=("manila",)))
        b = clusterer.assign(m(f"b{i}", i, unit(0.05 * i, 1), entities=("alberta",)))
    return a.story_id, b.story_id


def test_a_named_entity_pulls_a_mention_to_its_story() -> None:
    def run(entities: tuple[str, ...]) -> tuple[str, str, str]:
        clusterer = StoryClusterer(P(threshold=0.5), dim=DIM)
        a, b = _two_named_stories(clusterer)
        return a, b, clusterer.assign(m("x", 10, unit(1, 1.2), entities=entities)).story_id

    a, b, plain = run(())
    assert plain == b  # closer to B by its vector alone
    a, b, named = run(("manila",))
    assert named == a


def test_a_mention_naming_another_story_is_pushed_from_a_story_with_other_names() -> None:
    def run(entities: tuple[str, ...]) -> tuple[str, str]:
        params = P(threshold=0.7, entity_bonus=0.0, entity_penalty=0.3)
        clusterer = StoryClusterer(params, dim=DIM)
        _, b = _two_named_stories(clusterer)
        return b, clusterer.assign(m("x", 10, unit(0, 1, 0.75), entities=entities)).story_id

    b, plain = run(())
    assert plain == b
    b, named = run(("manila",))
    assert named != b  # 0.8 similarity less the penalty is below the threshold
    b, unknown = run(("red cross",))  # an entity no story is known by: no evidence either way
    assert unknown == b


def test_the_brand_own_name_is_no_evidence() -> None:
    clusterer = StoryClusterer(P(threshold=0.5, entity_penalty=0.3), dim=DIM)
    for i in range(3):
        clusterer.assign(m(f"a{i}", i, unit(1), entities=("#acme",)))
        b = clusterer.assign(m(f"b{i}", i, unit(0, 1), entities=("alberta",)))
    joined = clusterer.assign(m("x", 10, unit(0.3, 1), entities=("@acme",)))
    assert joined.story_id == b.story_id


def test_entities_follow_a_merge() -> None:
    params = P(threshold=0.75, merge_threshold=0.8, entity_bonus=0.3)
    clusterer = StoryClusterer(params, dim=DIM)
    clusterer.assign(m("1", 0, unit(1, 0), entities=("manila",)))
    clusterer.assign(m("2", 1, unit(1, 1.2), entities=("manila",)))
    merges = [clusterer.assign(m(f"{i}", 2 + i, unit(1, 0.6))) for i in range(3, 9)]
    merged = next(x for x in merges if x.merged)
    other = [
        clusterer.assign(m(f"c{i}", 20 + i, unit(0, 0, 1), entities=("alberta",))) for i in range(2)
    ]
    # "manila" is salient only in the merged story (once in each before): closer to the
    # Alberta story by its vector (0.81 vs 0.59), the mention joins the merged one.
    named = clusterer.assign(m("x", 30, unit(1, 0.6, 1.6), entities=("manila",)))
    assert named.story_id == merged.story_id != other[0].story_id


def test_a_borderline_mention_naming_only_unseen_names_opens_its_own_story() -> None:
    def run(entities: tuple[str, ...], margin: float) -> tuple[str, str]:
        params = P(threshold=0.7, entity_bonus=0.0, novel_margin=margin)
        clusterer = StoryClusterer(params, dim=DIM)
        _, b = _two_named_stories(clusterer)
        return b, clusterer.assign(m("x", 10, unit(0, 1, 0.75), entities=entities)).story_id

    b, gated = run(("calgary",), 0.2)  # 0.8 similarity: under 0.7 + 0.2, a name B never had
    assert gated != b
    assert run(("calgary",), 0.0)[1] == run(("calgary",), 0.0)[0]  # off: joins
    assert run(("alberta", "calgary"), 0.2)[1] == b  # one name B knows is enough
    assert run(("@someone",), 0.2)[1] == b  # a handle says who posts, not what about
    assert run(("calgary",), 0.05)[1] == b  # margin cleared


def test_the_story_talked_about_now_wins_a_close_call() -> None:
    def run(bonus: float) -> tuple[str, str, str]:
        clusterer = StoryClusterer(P(threshold=0.5, recent_bonus=bonus), dim=DIM)
        old = clusterer.assign(m("o0", 0, unit(1))).story_id
        for i in range(1, 6):
            clusterer.assign(m(f"o{i}", i, unit(1)))
        now = clusterer.assign(m("n0", 10, unit(0, 1))).story_id
        for i in range(1, 58):  # the brand's last 64 mentions are mostly this story's
            clusterer.assign(m(f"n{i}", 10 + i, unit(0, 1)))
        # A little closer to the old story (0.72 against 0.70).
        close_call = clusterer.assign(m("x", 80, unit(1.03, 1))).story_id
        return old, now, close_call

    old, now, joined = run(0.0)
    assert joined == old
    old, now, joined = run(0.1)  # 58 of the last 64 against 6, x 0.1: 0.08 outweighs 0.02
    assert joined == now != old
