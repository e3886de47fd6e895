"""Story splits: a story found to tell two (by the names its mentions carry) splits online."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from services.sentiment.core.stories import StoryClusterer, StoryMention, StoryParams
from services.sentiment.core.story_split import SplitRule, find_split

DIM = 8
RULE = SplitRule(entity_min=2, entity_share=0.1, link=0.2, share=0.25, least=4)


def unit(*weights: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


def test_the_identity_is_read_from_the_first_mentions() -> None:
    members = [("queensland", "#bigwet"), ("queensland",), ("#bigwet",), ("brisbane",)]
    identity, group = find_split(members, set(), RULE)
    assert identity == {"queensland", "#bigwet"} and not group


def test_names_never_named_with_the_identity_are_a_second_story() -> None:
    members = [("queensland",)] * 6 + [("calgary", "#yycflood")] * 4 + [("#yycflood",)] * 2
    identity, group = find_split(members, {"queensland"}, RULE)
    assert identity == {"queensland"}
    assert group == {"calgary", "#yycflood"}


def test_names_named_with_the_identity_join_it() -> None:
    # "bundaberg" comes with "queensland" in a third of its mentions: the same story.
    members = [("queensland",)] * 6 + [("bundaberg", "queensland")] * 2 + [("bundaberg",)] * 4
    identity, group = find_split(members, {"queensland"}, RULE)
    assert identity == {"queensland", "bundaberg"} and not group
    # ... as it does when the link was seen earlier in the story, not in these members.
    members = [("queensland",)] * 6 + [("bundaberg",)] * 6
    identity, group = find_split(members, {"queensland"}, RULE, lambda e: (20, 10))
    assert "bundaberg" in identity and not group


def test_a_handle_links_nothing_a_longer_name_of_its_own_does() -> None:
    # A news account posts about every story: naming it with Calgary says nothing ...
    members = [("queensland", "@reuters")] * 6 + [("calgary", "@reuters")] * 2
    members += [("calgary",)] * 4
    identity, group = find_split(members, {"queensland", "@reuters"}, RULE)
    assert group == {"calgary"} and "calgary" not in identity
    # ... though a mention that names anything of the story's own stays with it.
    members = [("queensland", "@reuters")] * 6 + [("calgary", "@reuters")] * 6
    assert not find_split(members, {"queensland", "@reuters"}, RULE)[1]
    # "colorado springs" is never named with "colorado", but is a name of Colorado's.
    members = [("colorado",)] * 6 + [("colorado springs",)] * 6
    identity, group = find_split(members, {"colorado"}, RULE)
    assert "colorado springs" in identity and not group


def test_too_few_or_founding_names_split_nothing() -> None:
    members = [("queensland",)] * 12 + [("calgary",)] * 3
    assert not find_split(members, {"queensland"}, RULE)[1]  # 3 of 15: under the share
    members = [("queensland",)] * 6 + [("calgary",)] * 6
    assert not find_split(members, {"queensland"}, RULE, founding={"calgary"})[1]


# Two stories only, so no name is common to the brand's mentions (`entity_common`).
SPLITTING = StoryParams(
    threshold=0.3, background=0.0, entity_common=1.0, split_every=4, split_mature=8, split_min=4
)


def _mention(key: str, at: float, vector: np.ndarray, *entities: str) -> StoryMention:
    return StoryMention(key=key, brand="acme", at=at, vector=vector, entities=entities)


def test_a_story_telling_two_splits_and_later_mentions_follow() -> None:
    params = SPLITTING

    def run() -> list[str]:
        clusterer = StoryClusterer(params, dim=DIM)
        found = []
        for i in range(12):  # floods in Queensland
            found.append(clusterer.assign(_mention(f"q{i}", i, unit(1, 0.6), "queensland")))
        for i in range(12):  # floods in Calgary: close enough by their words to join them
            at = 12 + 2 * i
            found.append(clusterer.assign(_mention(f"c{i}", at, unit(1, -0.6), "calgary")))
            found.append(clusterer.assign(_mention(f"r{i}", at + 1, unit(1, 0.6), "queensland")))
        return [a.story_id for a in found]

    ids = run()
    queensland, calgary = ids[0], ids[-2]
    assert queensland != calgary
    assert set(ids[:12]) == {queensland} and ids[-1] == queensland
    # The first Calgary mentions joined Queensland's story (nothing told them apart yet);
    # from the split on, Calgary has its own.
    first_calgary = ids[12::2]
    assert first_calgary[0] == queensland and first_calgary[-4:] == [calgary] * 4
    assert run() == ids  # deterministic, ids included


def test_a_split_off_group_another_story_tells_goes_there() -> None:
    params = SPLITTING
    clusterer = StoryClusterer(params, dim=DIM)
    for i in range(12):
        clusterer.assign(_mention(f"q{i}", i, unit(1, 0.6), "queensland"))
    manila = clusterer.assign(_mention("m0", 12, unit(0, 0, 1), "manila")).story_id
    clusterer.assign(_mention("m1", 13, unit(0, 0, 1), "manila"))
    ids = []
    for i in range(10):  # Manila mentions whose words lean to Queensland's story
        at = 14 + 2 * i
        ids.append(clusterer.assign(_mention(f"x{i}", at, unit(1, -0.6, 0.3), "manila")).story_id)
        clusterer.assign(_mention(f"r{i}", at + 1, unit(1, 0.6), "queensland"))
    assert clusterer.open_stories("acme") == 2
    assert ids[-1] == manila


def test_params_turn_splits_off() -> None:
    clusterer = StoryClusterer(replace(SPLITTING, split_every=0), dim=DIM)
    ids = {
        clusterer.assign(_mention(f"q{i}", i, unit(1, 0.6), "queensland")).story_id
        for i in range(12)
    }
    ids |= {
        clusterer.assign(_mention(f"c{i}", 12 + i, unit(1, -0.6), "calgary")).story_id
        for i in range(24)
    }
    assert len(ids) == 1


def test_split_params_are_checked() -> None:
    with pytest.raises(ValueError, match="split_window"):
        StoryParams(split_window=0)
    with pytest.raises(ValueError, match="split_every"):
        StoryParams(split_every=-1)
    with pytest.raises(ValueError, match="recent"):
        StoryParams(split_window=1024, recent=512)


def test_the_brand_keeps_only_its_recent_mentions() -> None:
    params = replace(SPLITTING, split_window=8, recent=16)
    clusterer = StoryClusterer(params, dim=DIM)
    for i in range(40):
        clusterer.assign(_mention(f"q{i}", i, unit(1, 0.6), "queensland"))
    state = clusterer._brands["acme"]
    assert len(state.ring_slot) == 16 and len(state.ring_key) == 16
    assert sorted(state.ring_key) == sorted(f"q{i}" for i in range(24, 40))
    assert [state.ring_key[i] for i in state.members(0, 8)] == [f"q{i}" for i in range(32, 40)]


def test_stories_that_share_a_name_merge_at_a_lower_similarity() -> None:
    params = replace(SPLITTING, threshold=0.5, entity_bonus=0.0, merge_named=0.4)

    def run(name: str, params: StoryParams = params) -> tuple[str, list[tuple[str, ...]]]:
        clusterer = StoryClusterer(params, dim=DIM)
        first = clusterer.assign(_mention("a0", 0, unit(1, 0), name)).story_id
        for i in range(1, 8):
            clusterer.assign(_mention(f"a{i}", i, unit(1, 0), name))
        # Told apart by their words (similarity 0.45 to the first story, under 0.5) ...
        found = [clusterer.assign(_mention(f"b{i}", 8 + i, unit(0.5, 1), name)) for i in range(8)]
        return first, [a.merged for a in found]

    # ... but both name Queensland: at the second story's check, the first merges into it.
    first, merges = run("queensland")
    assert merges[-1] == (first,) and not any(merges[:-1])
    # A shared @handle is no reason, nor a shared country (one country holds many stories),
    # nor is a shared name with named merges off.
    assert not any(run("@reuters")[1])
    assert not any(run("country:au")[1])
    assert not any(run("queensland", replace(params, merge_named=1.0))[1])
