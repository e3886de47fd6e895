import time

import pytest

from services.sentiment.scorers.vader import VaderScorer
from shared.schemas import SentimentScore


@pytest.fixture(scope="module")
def vader() -> VaderScorer:
    return VaderScorer()


def test_labels_follow_obvious_polarity(vader: VaderScorer) -> None:
    pos, neg, neu = vader.score(
        [
            "I love this phone, the camera is amazing!",
            "Worst customer service ever, I hate this company.",
            "The store opens at 9am on Monday.",
        ]
    )
    assert (pos.label, neg.label, neu.label) == ("positive", "negative", "neutral")
    assert pos.score > 0.5 and neg.score < -0.5 and neu.score == 0.0
    assert {s.scorer for s in (pos, neg, neu)} == {"vader"}


def test_emoji_and_slang_carry_sentiment(vader: VaderScorer) -> None:
    happy, angry = vader.score(["new update 😍😍", "this app sux smh 😡"])
    assert happy.label == "positive"
    assert angry.label == "negative"


def test_score_is_compound_and_results_validate(vader: VaderScorer) -> None:
    text = "The delivery was late but the food was great."
    compound = vader._analyzer.polarity_scores(text)["compound"]
    result = vader.score_one(text)
    assert result.score == compound
    # model_construct skipped validation: the values must still pass it.
    assert SentimentScore.model_validate(result.model_dump()) == result


def test_confidence_grows_with_strength(vader: VaderScorer) -> None:
    weak = vader.decide(0.1)
    strong = vader.decide(0.95)
    very_negative = vader.decide(-0.95)
    assert weak[0] == strong[0] == "positive" and very_negative[0] == "negative"
    assert 0.0 <= weak[1] < 0.5 < strong[1] <= 1.0
    assert very_negative[1] == strong[1]
    assert vader.decide(0.0) == ("neutral", 0.6)
    assert vader.decide(0.02)[0] == "neutral" and vader.decide(0.02)[1] < 0.6


def test_thresholds_are_configurable_and_validated() -> None:
    strict = VaderScorer(positive_threshold=0.5, negative_threshold=-0.5)
    assert strict.decide(0.3)[0] == "neutral"
    assert strict.decide(-0.6)[0] == "negative"
    with pytest.raises(ValueError):
        VaderScorer(positive_threshold=-0.2, negative_threshold=0.2)


def test_supports_english_only(vader: VaderScorer) -> None:
    assert vader.supports("en")
    assert not vader.supports("de") and not vader.supports("und")


def test_long_texts_are_capped() -> None:
    capped = VaderScorer(max_chars=20)
    assert capped.score_one("The weather is mild. " + "I hate it! " * 50).label == "neutral"


def test_empty_batch_and_empty_text(vader: VaderScorer) -> None:
    assert vader.score([]) == []
    assert vader.score([""])[0].label == "neutral"


def test_fast_enough_for_the_hot_path(vader: VaderScorer) -> None:
    texts = [
        f"Day {i}: loving the new release, but the app crashes sometimes :(" for i in range(2000)
    ]
    started = time.perf_counter()
    vader.score(texts)
    rate = len(texts) / (time.perf_counter() - started)
    # ~10,000/s on an idle core; the bound leaves room for a busy shared machine.
    assert rate > 2_000
