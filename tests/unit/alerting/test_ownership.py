"""The worker's view of its partitions, per-brand records, and forgetting a brand's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerting.detect.engine import DetectionEngine
from services.alerting.detect.signals import Decisions, Recovery
from services.alerting.ownership import Claimed, Partitions, keyed_only, split_owned
from shared.kafka import KeyPartitioner, key_partition
from shared.schemas import Mention, ScoredMention, SentimentScore

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _scored(brands: list[str], n: int = 1) -> ScoredMention:
    mention = Mention(
        platform="x",
        external_id=f"m-{n}",
        author_id=f"a-{n}",
        text="text",
        created_at=T0 + timedelta(seconds=n),
        brands=brands,
    )
    return ScoredMention(mention=mention, language="en", language_confidence=1.0, sentiment=None)


def test_key_partition_is_the_producers_partition() -> None:
    partitioner = KeyPartitioner()
    for brand in ("acme", "globex", "initech", "umbrella"):
        key = brand.encode()
        assert key_partition(key, 12) == partitioner(key, list(range(12)))


def test_a_partition_held_on_keeps_its_brands_and_a_lost_one_forgets_them() -> None:
    parts = Partitions("scored", owner="me")
    parts.settle([Claimed(0, 1, False), Claimed(1, 1, False), Claimed(2, 1, False)])
    for brand, partition in (("a", 0), ("b", 1), ("c", 2)):
        parts.note(brand, partition)
    parts.park([0, 1, 2])
    assert not parts.owns(0) and parts.previous(0) == 1
    # Back: 0 unchanged (continuous), 1 held by someone else meanwhile; 2 went elsewhere.
    stale = parts.settle([Claimed(0, 2, True), Claimed(1, 3, False)])
    assert stale == {"b", "c"}
    assert parts.held == {0: 2, 1: 3}
    assert parts.owns_brand("a") and not parts.owns_brand("b")
    assert parts.drop([0]) == {"a"} and parts.held == {1: 3}


def test_a_record_counts_for_the_brand_it_is_keyed_by() -> None:
    both = _scored(["acme", "globex"])
    assert keyed_only(both, b"globex").mention.brands == ["globex"]
    assert keyed_only(both, b"acme").mention.brands == ["acme"]
    # Keyed by none of its brands (an older producer): it counts for all of them.
    assert keyed_only(both, None).mention.brands == ["acme", "globex"]
    one = _scored(["acme"])
    assert keyed_only(one, b"acme") is one


def test_decisions_split_by_owned_brands() -> None:
    decisions = Decisions(brands={"a", "b"})
    decisions.recoveries += [Recovery("a", "recall", T0, 60.0), Recovery("b", "", T0, 60.0)]
    mine, other = split_owned(decisions, {"a"})
    assert mine.brands == {"a"} and [r.brand for r in mine.recoveries] == ["a"]
    assert other.brands == {"b"} and [r.brand for r in other.recoveries] == ["b"]


def test_forgetting_a_brand_drops_its_state_and_bins() -> None:
    engine = DetectionEngine()
    for n in range(5):
        engine.observe(_scored(["acme"], n), wall_now=T0.timestamp() + n)
        engine.observe(_scored(["globex"], 100 + n), wall_now=T0.timestamp() + n)
    assert engine.knows("acme") and engine.bins.knows("acme")
    engine.forget("acme")
    assert not engine.knows("acme") and not engine.bins.knows("acme")
    assert engine.knows("globex") and engine.bins.knows("globex")


def _negative(brand: str, n: int) -> ScoredMention:
    scored = _scored([brand], n)
    return scored.model_copy(
        update={
            "sentiment": SentimentScore(label="negative", score=-0.8, confidence=0.9, scorer="t")
        }
    )


def test_the_negative_burst_window_moves_with_the_brand_state() -> None:
    """A crisis half counted by one owner tips the burst rule on the next one."""
    wall = T0.timestamp() + 100
    before = DetectionEngine()
    for n in range(15):
        assert not before.observe(_negative("acme", n), wall_now=wall).signals
    rows = before.export("acme")
    after = DetectionEngine()
    after.load("acme", rows, wall_now=wall)
    # A replayed mention counts once; five new ones reach the 20 the rule needs.
    assert not after.observe(_negative("acme", 14), wall_now=wall).signals
    fired = [after.observe(_negative("acme", n), wall_now=wall).signals for n in range(15, 20)]
    assert [s.rule for s in fired[-1]] == ["negative_burst"]
    assert not any(fired[:-1])
