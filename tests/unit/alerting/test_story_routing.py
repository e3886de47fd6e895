"""Incidents are stories: which story a signal is about, where it goes, what merges. Pure."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from services.alerting.detect.bins import MAX_BIN_STORIES, Bin
from services.alerting.detect.stories import (
    OpenStory,
    canonical,
    dominant_story,
    place_signal,
    window_attributes,
)
from shared.schemas import Engagement, Mention, ScoredMention, SentimentScore

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _bin(stories: dict[str, list[int]], *, negatives: int | None = None, count: int = 0) -> Bin:
    b = Bin(brand="acme", topic="", start=T0.timestamp())
    b.stories = stories
    b.count = count or sum(v[0] for v in stories.values())
    b.negatives = negatives if negatives is not None else sum(v[1] for v in stories.values())
    return b


def test_the_story_with_most_negative_mentions_names_the_signal() -> None:
    """Volume alone does not decide: the story the negative mentions are about does."""
    window = [_bin({"chatter": [30, 1], "fire": [10, 9]}), _bin({"fire": [5, 5]})]
    assert dominant_story(window) == "fire"


def test_without_negatives_the_biggest_story_names_it() -> None:
    window = [_bin({"launch": [12, 0], "ad": [3, 0]})]
    assert dominant_story(window) == "launch"


def test_a_story_holding_too_small_a_share_names_nothing() -> None:
    """Mostly mentions without a story (older payloads): the signal keeps topic grouping."""
    window = [_bin({"a": [2, 1]}, negatives=40, count=60)]
    assert dominant_story(window) is None
    assert dominant_story([_bin({})]) is None
    assert dominant_story([]) is None


def test_ties_go_to_the_smaller_id_so_replays_agree() -> None:
    window = [_bin({"b": [4, 2], "a": [4, 2]})]
    assert dominant_story(window) == "a"


def _scored(
    story: str,
    *,
    background: bool = False,
    negative: bool = True,
    i: int = 0,
    topics: tuple[str, ...] = (),
    emotion: str | None = None,
) -> ScoredMention:
    mention = Mention(
        platform="x",
        external_id=f"m{i}",
        author_id=f"a{i}",
        text="battery fire",
        created_at=T0,
        ingested_at=T0,
        brands=["acme"],
        engagement=Engagement(),
    )
    return ScoredMention(
        mention=mention,
        language="en",
        language_confidence=1.0,
        sentiment=SentimentScore(
            label="negative" if negative else "positive",
            score=-0.8 if negative else 0.5,
            confidence=0.9,
            scorer="t",
        ),
        topics=list(topics),
        emotion=emotion,
        story_id=story,
        story_background=background,
    )


def test_a_bin_counts_a_bounded_number_of_stories() -> None:
    """Memory per bin is bounded: stories beyond the budget go uncounted, not stored."""
    b = Bin(brand="acme", topic="", start=T0.timestamp())
    for i in range(MAX_BIN_STORIES + 10):
        b.add(_scored(f"s{i:03d}", i=i, topics=("safety",), emotion="fear"))
    assert len(b.stories) == MAX_BIN_STORIES
    assert b.stories["s000"] == [1, 1]
    again = Bin.from_dict(b.to_dict())
    assert again.stories == b.stories and again.topics == Counter({"safety": 42})
    assert again.emotions == Counter({"fear": 42})


def test_window_attributes_rank_topics_and_emotions() -> None:
    a, b = _bin({}), _bin({})
    a.topics, b.topics = Counter({"safety": 3, "recall": 1}), Counter({"recall": 4})
    a.emotions = Counter({"fear": 2, "anger": 2})
    assert window_attributes([a, b]) == (("recall", "safety"), ("anger", "fear"))


def test_canonical_follows_merge_chains_and_stops_on_cycles() -> None:
    assert canonical("a", {"a": "b", "b": "c"}) == "c"
    assert canonical("x", {"a": "b"}) == "x"
    assert canonical("a", {"a": "b", "b": "a"}) == "b"


def _open(incident_id: int, topic: str, story: str | None, ago: timedelta) -> OpenStory:
    return OpenStory(incident_id, topic, T0 - ago, "SEV2", story)


def test_a_story_signal_goes_to_its_incident_whatever_its_topic() -> None:
    """Safety then recall signals of one story: one incident (topics are attributes)."""
    opened = [_open(1, "safety", "fire", timedelta(minutes=5))]
    placed = place_signal(
        story_topic="recall", at=T0, open_stories=opened, window=HOUR, story="fire"
    )
    assert (placed.incident_id, placed.merge, placed.adopt, placed.retopic) == (1, (), False, False)


def test_two_open_incidents_of_one_story_merge_into_the_oldest() -> None:
    opened = [
        _open(7, "recall", "fire", timedelta(minutes=1)),
        _open(3, "safety", "fire", timedelta(minutes=50)),
        _open(5, "delivery", "late", timedelta(minutes=2)),
    ]
    placed = place_signal(story_topic="", at=T0, open_stories=opened, window=HOUR, story="fire")
    assert placed.incident_id == 3 and placed.merge == (7,)


def test_a_new_story_of_a_known_topic_opens_its_own_incident() -> None:
    """Two stories about safety are two incidents."""
    opened = [_open(1, "safety", "fire", timedelta(minutes=5))]
    placed = place_signal(
        story_topic="safety", at=T0, open_stories=opened, window=HOUR, story="recall-rumour"
    )
    assert placed.incident_id is None


def test_a_story_signal_adopts_a_topic_grouped_incident() -> None:
    """An incident opened by an older payload (no story) takes the story of its topic."""
    opened = [_open(4, "safety", None, timedelta(minutes=5))]
    placed = place_signal(
        story_topic="safety", at=T0, open_stories=opened, window=HOUR, story="fire"
    )
    assert (placed.incident_id, placed.adopt) == (4, True)
    generic = [_open(6, "", None, timedelta(minutes=5))]
    placed = place_signal(
        story_topic="safety", at=T0, open_stories=generic, window=HOUR, story="fire"
    )
    assert (placed.incident_id, placed.adopt, placed.retopic) == (6, True, True)


def test_a_signal_without_story_falls_back_to_topic_grouping() -> None:
    opened = [
        _open(1, "safety", "fire", timedelta(minutes=40)),
        _open(2, "safety", "smoke", timedelta(minutes=4)),
        _open(3, "delivery", None, timedelta(minutes=2)),
    ]
    same_topic = place_signal(story_topic="safety", at=T0, open_stories=opened, window=HOUR)
    assert same_topic.incident_id == 2  # the most recently active of the topic
    brand_level = place_signal(story_topic="", at=T0, open_stories=opened, window=HOUR)
    assert brand_level.incident_id == 3
    assert place_signal(story_topic="fraud", at=T0, open_stories=opened, window=HOUR) == (
        place_signal(story_topic="fraud", at=T0, open_stories=[], window=HOUR)
    )


def test_a_generic_story_incident_takes_the_topic_of_its_first_topic_signal() -> None:
    """Topic signals of the story keep the incident; the first gives it its category."""
    opened = [_open(2, "", "fire", timedelta(minutes=3))]
    placed = place_signal(
        story_topic="safety", at=T0, open_stories=opened, window=HOUR, story="fire"
    )
    assert (placed.incident_id, placed.retopic) == (2, True)
    brand_level = place_signal(
        story_topic="", at=T0, open_stories=opened, window=HOUR, story="fire"
    )
    assert (brand_level.incident_id, brand_level.retopic) == (2, False)


def test_the_brand_background_story_never_names_a_signal() -> None:
    """Mentions of the brand's ordinary talk count as mentions, never as a story to page."""
    chatter = Bin(brand="acme", topic="", start=T0.timestamp())
    for i in range(40):
        chatter.add(_scored("chatter", background=True, negative=i % 4 == 0, i=i))
    assert chatter.count == 40 and chatter.stories == {}
    assert dominant_story([chatter]) is None  # the signal keeps the brand's topic grouping
    same = Bin(brand="acme", topic="", start=T0.timestamp())
    for i in range(40):
        same.add(_scored("chatter", negative=i % 4 == 0, i=i))
    assert dominant_story([same]) == "chatter"  # the same mentions, not flagged background
    with_fire = Bin(brand="acme", topic="", start=T0.timestamp())
    for i in range(40):
        with_fire.add(_scored("chatter", background=True, negative=False, i=i))
    for i in range(40, 46):
        with_fire.add(_scored("fire", i=i))
    assert dominant_story([with_fire]) == "fire"
