"""Countries as story evidence: the gazetteer (core.places) and how the clusterer uses it."""

from __future__ import annotations

import numpy as np
import pytest

from services.sentiment.core.entities import extract_entities
from services.sentiment.core.places import countries, place_tokens, with_places
from services.sentiment.core.stories import StoryClusterer, StoryMention, StoryParams

DIM = 8


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        (("calgary", "alberta", "canada"), ("ca",)),  # a city, a province, a country
        (("italia",), ("it",)),  # translated country names
        (("filipinas", "manila"), ("ph",)),
        (("#queensland",), ("au",)),  # a hashtag names a place without its "#"
        (("@cityofcalgary",), ()),  # a handle says who posts
        (("northern italy",), ("it",)),  # a run of names: its weightiest word, when large
        (("boston marathon",), ("us",)),
        (("metro manila",), ("ph",)),  # not Metro, a town in Indonesia
        (("dzhokhar tsarnaev",), ()),  # an old name of Grozny: small cities' aliases unread
        (("#emiliaromagna", "emilia-romagna"), ("it",)),  # as hashtags write names; hyphens
        (("italy's",), ("it",)),
        (("west texas",), ("us",)),  # "West" is a Cameroonian region's name, not a place
        (("santa maria",), ()),  # several countries' cities, none dominant: nothing
        (("boston",), ("us",)),  # the US city is ten times the English one
        (("acme", "red cross"), ()),
        (("brisbane", "jakarta", "brisbane"), ("au", "id")),  # once each, in order
    ],
)
def test_countries_of_entities(entities: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert countries(entities) == expected


def test_place_tokens_follow_the_entities_of_a_text() -> None:
    entities = extract_entities("Floods force thousands from homes in Calgary #abflood @CBC")
    assert entities == ("#abflood", "@cbc", "calgary")
    assert place_tokens(entities) == ("country:ca",)
    assert with_places(entities) == (*entities, "country:ca")


def _unit(*weights: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


def _mention(key: str, at: float, vector: np.ndarray, *entities: str) -> StoryMention:
    return StoryMention(key=key, brand="acme", at=at, vector=vector, entities=entities)


def _placed_story(clusterer: StoryClusterer) -> str:
    """A story along axis 0 told from Australia (four of its six mentions say so)."""
    story = ""
    for i in range(6):
        place = ("queensland", "country:au") if i % 3 else ()
        story = clusterer.assign(_mention(f"a{i}", i, _unit(1, 0.05 * i), *place)).story_id
    return story


@pytest.mark.parametrize("penalty", [0.0, 0.2])
def test_a_mention_from_another_country_is_pushed_from_a_placed_story(penalty: float) -> None:
    params = StoryParams(background=0.0, threshold=0.5, place_penalty=penalty, novel_margin=0)
    clusterer = StoryClusterer(params, dim=DIM)
    story = _placed_story(clusterer)
    # 0.6 similar: joins unless the penalty applies (0.6 - 0.2 < 0.5).
    elsewhere = clusterer.assign(_mention("x", 10, _unit(0.6, 0.8), "calgary", "country:ca"))
    assert (elsewhere.story_id == story) is (penalty == 0.0)


def test_the_same_country_or_no_country_is_no_push_and_no_pull() -> None:
    params = StoryParams(background=0.0, threshold=0.5, place_penalty=0.2, novel_margin=0)
    clusterer = StoryClusterer(params, dim=DIM)
    story = _placed_story(clusterer)
    same = clusterer.assign(_mention("y", 10, _unit(0.6, 0.8), "brisbane", "country:au"))
    unplaced = clusterer.assign(_mention("z", 11, _unit(0.6, 0, 0.8)))
    roundup = clusterer.assign(_mention("r", 12, _unit(0.6, 0, 0, 0.8), "country:ca", "country:au"))
    assert same.story_id == unplaced.story_id == roundup.story_id == story
    # A country never pulls: 0.35 similar, it would join with an entity's 0.2 pull.
    far = clusterer.assign(_mention("f", 13, _unit(0.35, 0, 0, 0, 0.94), "country:au"))
    assert far.opened


def test_a_story_that_names_few_places_is_not_placed() -> None:
    params = StoryParams(background=0.0, threshold=0.5, place_penalty=0.2, novel_margin=0)
    clusterer = StoryClusterer(params, dim=DIM)
    for i in range(30):  # two mentions in thirty name a country: under `entity_share`
        place = ("country:au",) if i < 2 else ()
        story = clusterer.assign(_mention(f"a{i}", i, _unit(1, 0.01 * i), *place)).story_id
    joined = clusterer.assign(_mention("x", 40, _unit(0.6, 0.8), "country:ca"))
    assert joined.story_id == story


def test_a_country_the_brand_is_full_of_still_tells_the_next_story_apart() -> None:
    # Most mentions so far are one Canadian story: `canada` and `country:ca` are in more than
    # `entity_common` of the brand's mentions, which drops ordinary names (the brand's own);
    # countries are kept, so a report from elsewhere is still pushed.
    params = StoryParams(background=0.0, threshold=0.5, place_penalty=0.2, novel_margin=0)
    clusterer = StoryClusterer(params, dim=DIM)
    for i in range(24):  # the brand's ordinary talk, then a Canadian story it is full of
        clusterer.assign(_mention(f"o{i}", i, _unit(0, 0, 0, 0, 1, 0.01 * i)))
    for i in range(60):
        vector = _unit(1, 0.01 * i)
        first = clusterer.assign(_mention(f"c{i}", 30 + i, vector, "canada", "country:ca"))
    elsewhere = clusterer.assign(_mention("g", 100, _unit(0.6, 0, 0.8), "glasgow", "country:gb"))
    assert elsewhere.opened and elsewhere.story_id != first.story_id
    at_home = clusterer.assign(_mention("h", 101, _unit(0.6, 0, 0, 0.8), "canada", "country:ca"))
    assert at_home.story_id == first.story_id


# The shipped sentence encoder on short texts: two floods a gazetteer tells apart, and one
# product defect reported from many countries.
QUEENSLAND = (
    "Floods in Brisbane: {n} people evacuated as the river rises",
    "Queensland floods cut roads, residents told to move to higher ground",
    "Water keeps rising in Bundaberg, Queensland, {n} homes under water",
    "Brisbane flood update: {n} evacuation centres are open",
    "Stay safe everyone in Queensland, the floods are terrible",
)
ALBERTA = (
    "Canmore declares a state of emergency as Alberta creeks overflow",
    "Calgary orders neighbourhoods along the Bow and Elbow rivers to leave tonight",
    "Highway 1 closed west of Calgary after mudslides, Alberta asks drivers to stay home",
    "Praying for my family in High River, Alberta, the town is under water",
    "Calgary Stampede grounds flooded, the Saddledome is full of water",
)
DEFECT = (
    "My Voltix charger exploded last night in {place}, the whole desk is burnt",
    "Voltix power bank caught fire in my car in {place}. Stop selling these!",
    "Another Voltix battery fire reported in {place}, when is the recall coming?",
    "Fire brigade in {place} says a Voltix charger started the blaze",
    "Voltix needs to recall these chargers before someone dies",
)
CITIES = ("London", "Texas", "Toronto", "Sydney", "Berlin", "Madrid", "Paris", "Manila")


def _clusters(texts: list[tuple[str, str]], params: StoryParams) -> dict[str, set[str]]:
    """Story -> the clusters its texts (in this order, a minute apart) end up in."""
    from tools.eval.stories import Labelled, cluster, encode

    rows = [Labelled(text, 1.7e9 + 60 * i, story) for i, (story, text) in enumerate(texts)]
    found, _ = cluster(rows, encode([r.text for r in rows]), params)
    clusters: dict[str, set[str]] = {}
    for row, story_id in zip(rows, found, strict=True):
        clusters.setdefault(row.story, set()).add(story_id)
    return clusters


def test_two_floods_told_from_two_countries_are_two_stories() -> None:
    texts = [("qld", QUEENSLAND[i % 5].format(n=1000 + i)) for i in range(20)]
    texts += [("ab", ALBERTA[i % 5]) for i in range(20)]
    apart = _clusters(texts, StoryParams())
    assert len(apart["qld"]) == len(apart["ab"]) == 1 and apart["qld"] != apart["ab"]
    # Without the penalty the first Alberta report joins the Queensland story (en-3's leak).
    leaked = _clusters(texts, StoryParams(place_penalty=0.0))
    assert leaked["qld"] & leaked["ab"]


def test_a_defect_reported_from_many_countries_stays_one_story() -> None:
    texts = [("fire", DEFECT[i % 5].format(place=CITIES[i % 8])) for i in range(40)]
    assert len(_clusters(texts, StoryParams())["fire"]) == 1
