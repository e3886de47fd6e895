"""A brand's clustering state saved and restored goes on exactly as if never interrupted."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from services.sentiment.core.prepared import _NO_STORY_JSON, _NO_STORY_LINE, PreparedMention
from services.sentiment.core.stories import StoryClusterer, StoryMention, StoryParams
from services.sentiment.core.story_snapshot import SnapshotError, dump_state, load_state
from services.sentiment.stories import StoryAssigner

DIM = 32
PARAMS = StoryParams(budget=8, recent=128, split_window=64, max_keys=64)


def _stream(n: int, seed: int = 1, dim: int = DIM) -> list[StoryMention]:
    """Mentions of one brand from five stories told at once, with hashtags, replies and
    names: two stories read alike but name different things (a split), one drifts into
    another (a merge)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, dim))
    centres[1] = centres[0] + 0.6 * rng.normal(size=dim)
    names = [("boston", "#prayforboston"), ("texas", "#westexplosion"),
             ("manila", "#reliefph"), ("alberta",), ("savar",)]  # fmt: skip
    out = []
    for i in range(n):
        story = int(rng.integers(0, 5)) if i > 40 else 0
        centre = centres[story]
        if story == 3 and i > 150:
            centre = centre + min(1.0, (i - 150) / 100) * (centres[4] - centres[3])
        vector = centre + rng.normal(scale=0.5, size=dim)
        vector /= np.linalg.norm(vector)
        entities = names[story] if rng.random() < 0.7 else ()
        out.append(
            StoryMention(
                key=f"x:{i}",
                brand="acme",
                at=1_700_000_000 + 60.0 * i,
                vector=vector.astype(np.float32),
                hashtags=(f"#s{story}",) if rng.random() < 0.3 else (),
                refs=(f"x:{i - 1}",) if i and rng.random() < 0.1 else (),
                entities=entities,
            )
        )
    return out


def test_a_restored_state_assigns_as_the_uninterrupted_one() -> None:
    stream = _stream(400)
    whole = StoryClusterer(PARAMS, dim=DIM)
    expected = whole.assign_all(stream)
    # The stream exercises a split (a story no mention opened) and a merge after the cut.
    assert len({a.story_id for a in expected}) > sum(a.opened for a in expected) >= 4
    assert any(a.merged for a in expected[200:])
    first = StoryClusterer(PARAMS, dim=DIM)
    first.assign_all(stream[:200])
    state = first.state_of("acme")
    assert state is not None
    data = dump_state(state)
    second = StoryClusterer(PARAMS, dim=DIM)
    second.adopt("acme", load_state(data, dims=second.dims))
    assert second.assign_all(stream[200:]) == expected[200:]
    # and the bytes are the same for the same state
    restored = load_state(data, dims=second.dims)
    assert dump_state(restored) == data


def test_without_the_state_ongoing_stories_get_new_ids() -> None:
    stream = _stream(400)
    expected = StoryClusterer(PARAMS, dim=DIM).assign_all(stream)
    fresh = StoryClusterer(PARAMS, dim=DIM).assign_all(stream[200:])
    assert {a.story_id for a in fresh}.isdisjoint(a.story_id for a in expected[:200])


def test_a_state_of_other_settings_or_other_bytes_is_refused() -> None:
    clusterer = StoryClusterer(PARAMS, dim=DIM)
    clusterer.assign_all(_stream(50))
    state = clusterer.state_of("acme")
    assert state is not None
    data = dump_state(state)
    other = StoryClusterer(StoryParams(budget=16, recent=128, max_keys=64), dim=DIM)
    with pytest.raises(SnapshotError, match="other settings"):
        load_state(data, dims=other.dims)
    with pytest.raises(SnapshotError, match="not a story state"):
        load_state(b"not an archive", dims=clusterer.dims)


def _saved(n: int) -> bytes:
    """The saved state of a brand after `n` mentions (the worker's vector size)."""
    clusterer = StoryClusterer(PARAMS)
    clusterer.assign_all(_stream(n, dim=512))
    state = clusterer.state_of("acme")
    assert state is not None
    return dump_state(state)


def test_the_worker_restores_a_brand_it_does_not_hold_and_rechecks_a_quiet_one() -> None:
    now = [0.0]
    assigner = StoryAssigner(PARAMS, save_s=10, recheck_s=60, clock=lambda: now[0])
    first, second = _saved(40), _saved(60)
    assert assigner.to_check(["acme", "acme"]) == ["acme"]  # never held here
    assert assigner.restore(["acme"], [("acme", first, 1)]) == 1
    assert assigner.to_check(["acme"]) == []  # held, and busy here
    now[0] += 61
    assert assigner.to_check(["acme"]) == ["acme"]  # quiet here: another worker may save it
    assert assigner.restore(["acme"], [("acme", first, 1)]) == 0  # the version held
    now[0] += 61
    assert assigner.restore(["acme"], [("acme", second, 2)]) == 1  # saved by another since


def test_the_worker_saves_changed_brands_when_due_and_again_after_a_failure() -> None:
    now = [0.0]
    assigner = StoryAssigner(PARAMS, save_s=10, clock=lambda: now[0])
    assigner.restore(["acme"], [("acme", _saved(40), 1)])
    assert not assigner.save_due()  # nothing changed since it was restored
    assigner.unsaved(["acme"])  # as a mention or a failed save leaves it
    assert not assigner.save_due() and assigner.save_due(now=True)
    now[0] += 10
    assert assigner.save_due()
    ((brand, data),) = assigner.states()
    assert brand == "acme" and load_state(data, dims=StoryClusterer(PARAMS).dims).ids
    assert not assigner.save_due(now=True)  # taken
    assigner.saved([("acme", 7)])
    now[0] += 61
    assert assigner.restore(["acme"], [("acme", data, 7)]) == 0  # its own save


def test_saving_off_never_reads_nor_writes_and_a_foreign_state_is_skipped() -> None:
    off = StoryAssigner(PARAMS, save_s=0)
    off.unsaved(["acme"])
    assert off.to_check(["acme"]) == [] and not off.save_due(now=True)
    other = StoryAssigner(StoryParams(budget=16, recent=128, max_keys=64), save_s=10)
    assert other.restore(["acme"], [("acme", _saved(40), 1)]) == 0


def test_a_round_of_saves_spreads_over_calls() -> None:
    now = [0.0]
    assigner = StoryAssigner(PARAMS, save_s=10, clock=lambda: now[0])
    data = _saved(40)
    assigner.restore(["a", "b", "c"], [(b, data, 1) for b in ("a", "b", "c")])
    assigner.unsaved(["a", "b", "c"])
    now[0] += 10
    assert [b for b, _ in assigner.states(2)] == ["a", "b"]
    assert assigner.save_due()  # the round goes on at the next call
    assert [b for b, _ in assigner.states(2)] == ["c"]
    assert not assigner.save_due()


def test_after_a_rebalance_brands_come_back_from_their_saves() -> None:
    now = [0.0]
    assigner = StoryAssigner(PARAMS, save_s=10, clock=lambda: now[0])
    data = _saved(40)
    assigner.restore(["a", "b"], [("a", data, 1), ("b", data, 1)])
    assigner.unsaved(["a", "b"])
    now[0] += 10
    # "b" went to another worker: it saves "b" from now on, this one forgets it.
    assert [brand for brand, _ in assigner.states(held=lambda brand: brand == "a")] == ["a"]
    assert assigner.to_check(["a", "b"]) == ["b"]
    assigner.forget_all()  # a rebalance: every brand is read again from its save
    assert assigner.to_check(["a"]) == ["a"]
    assert assigner.restore(["a"], [("a", data, 1)]) == 1  # the version held was forgotten


def _prepared(mention: StoryMention) -> PreparedMention:
    """A prepared mention carrying what the assigner reads (its story input)."""
    at = datetime.fromtimestamp(mention.at, UTC)
    return PreparedMention(
        "x",
        mention.key,
        "mention",
        b"",
        _NO_STORY_JSON,
        _NO_STORY_LINE,
        (),
        (mention.brand,),
        at,
        (),
        "en",
        "neutral",
        (),
        None,
        0,
        0,
        "a",
        mention.at,
        (),
        (),
        int(mention.at),
        story=mention,
    )


def test_a_story_reaching_the_urgent_size_is_saved_before_the_round() -> None:
    now = [0.0]
    assigner = StoryAssigner(PARAMS, save_s=3600, urgent_size=3, clock=lambda: now[0])
    acme = [_prepared(m) for m in _stream(5, dim=512)]  # the opening story: five mentions
    other = _prepared(replace(_stream(1, seed=2, dim=512)[0], brand="other", key="o:0"))
    first = assigner.assign([other, *acme[:2]])
    assert len({p.story_id for p in first[1:]}) == 1  # one story of acme, two mentions
    assert not assigner.save_due()  # no round yet, and no story of 3 mentions
    assigner.assign(acme[2:3])  # it reaches 3 mentions
    assert assigner.urgent() == {"acme"} and assigner.save_due()
    # Only the urgent brand is taken between rounds; "other" waits for the round.
    assert [brand for brand, _ in assigner.states(16)] == ["acme"]
    assert not assigner.save_due()
    assigner.assign(acme[3:5])  # the same story grows on: nothing urgent
    assert not assigner.urgent() and not assigner.save_due()
    now[0] += 3600  # the round: both brands changed since their saves
    assert [brand for brand, _ in assigner.states(16)] == ["acme", "other"]


def test_an_urgent_save_that_failed_is_retried_at_the_next_call() -> None:
    assigner = StoryAssigner(PARAMS, save_s=3600, urgent_size=1, clock=lambda: 0.0)
    data = _saved(40)
    assigner.restore(["a", "b"], [("a", data, 1), ("b", data, 1)])
    assigner.unsaved(["a"], urgent=True)
    assigner.unsaved(["b"])
    assert assigner.save_due() and [b for b, _ in assigner.states(16)] == ["a"]
    assigner.unsaved(["a"], urgent=True)  # storing it failed
    assert [b for b, _ in assigner.states(16)] == ["a"]
    assert not assigner.save_due()  # "b" waits for the round


def test_a_merge_is_saved_before_the_round() -> None:
    assigner = StoryAssigner(PARAMS, save_s=3600, urgent_size=10**6, clock=lambda: 0.0, dim=DIM)
    stream = [_prepared(m) for m in _stream(400)]
    merges = 0
    for i in range(0, len(stream), 20):
        merged = any(p.merged for p in assigner.assign(stream[i : i + 20]))
        assert assigner.save_due() == merged  # stories converged: saved at once
        merges += merged
        assigner.states(16)
    assert merges
