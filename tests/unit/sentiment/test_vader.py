import random

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from services.sentiment.scorers.vader import VaderScorer
from services.sentiment.scorers.vader_fast import FastSentimentIntensityAnalyzer
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


# --- the fast analyzer must match the library exactly --------------------------------------

_EDGE_CASES = [
    "",
    " ",
    "\t\n",
    "😀",
    "😀😀😀",
    " 😀 ",
    "good😀bad",
    "😀good",
    "good  😀😀",
    "!!!",
    "???",
    "?!?!?!",
    "...",
    ":) :( :D :-)",
    "I LOVE THIS",
    "I LOVE this",
    "this is GREAT!!!",
    "VERY good",
    "very GOOD thing",
    "The food was good but the service was awful",
    "good but bad but great",
    "but",
    "I have never been so happy",
    "never this good",
    "It was kind of good",
    "KIND OF GOOD",
    "kind-of good, sort of bad, sorta sux",
    "just enough fun",
    "at least it is good",
    "the least good",
    "very least good",
    "least good",
    "This is the bomb",
    "that party was the shit",
    "yeah right, great idea",
    "it cannot cut the mustard",
    "the kiss of death for us",
    "a cake to die for",
    "bad ass movie at the bus stop",
    "not good",
    "isn't good",
    "I don't think it's not bad",
    "no good",
    "no no good",
    "no or nor good",
    "not no good",
    "without doubt great",
    "without a doubt great",
    "uh-uh nice",
    "nope, bad",
    "Not bad at all",
    "bad?? good!!",
    "***good*** (sad) 'fun' \"amazing\" #love @hate",
    "Ça va très bien, merci! 😍",
    "Привет, это ужасно 😡",
    "我很惊讶地看到VADER是如此有用!",
    "İstanbul is GREAT, ΣΟΦΟΣ good",
    "\u00a0good\u00a0bad\u2003nice good\u200bbad",
    "I hate it! " * 400,
    ("The weather is lovely, but the traffic is not great. " * 800)[:40_000],
]

_WORDS = [
    "good", "bad", "great", "awful", "love", "hate", "happy", "sad", "ok", "the", "a", "it",
    "is", "was", "no", "not", "never", "so", "this", "least", "at", "very", "but", "kind",
    "of", "sort", "without", "doubt", "or", "nor", "n't", "isn't", "don't", "won't",
    "despite", "extremely", "barely", "kinda", "bomb", "shit", "yeah", "right", "kiss",
    "death", "die", "for", "cut", "mustard", "lol", "sux", ":)", ":(", ":D", "😀", "😡",
    "💔", "!", "?", "!!", "??", "...",
]  # fmt: skip
_AFFIXES = ["", "", "", ",", ".", "!", "?", '"', "'", "(", ")", "#", "@", "..."]


def _generated_texts(n: int = 400, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = []
        for _ in range(rng.randrange(1, 20)):
            word = rng.choice(_WORDS)
            roll = rng.random()
            if roll < 0.12:
                word = word.upper()
            elif roll < 0.18:
                word = word.capitalize()
            words.append(rng.choice(_AFFIXES) + word + rng.choice(_AFFIXES))
        texts.append(rng.choice([" ", " ", "  ", "\t"]).join(words))
    return texts


def test_fast_analyzer_matches_library_exactly() -> None:
    library = SentimentIntensityAnalyzer()
    fast = FastSentimentIntensityAnalyzer()
    texts = _EDGE_CASES + _generated_texts()
    for text in texts:
        expected = library.polarity_scores(text)
        got = fast.polarity_scores(text)
        # repr() also tells 0.0 from -0.0: the results must be bit-identical.
        assert {k: repr(v) for k, v in got.items()} == {k: repr(v) for k, v in expected.items()}, (
            text
        )


def test_scorer_uses_fast_analyzer_with_library_results(vader: VaderScorer) -> None:
    assert isinstance(vader._analyzer, FastSentimentIntensityAnalyzer)
    exact = VaderScorer(exact_library=True)
    assert type(exact._analyzer) is SentimentIntensityAnalyzer
    texts = _EDGE_CASES + _generated_texts(100, seed=5)
    assert vader.score(texts) == exact.score(texts)


def test_token_memo_starting_over_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.sentiment.scorers import vader_fast

    monkeypatch.setattr(vader_fast, "TOKEN_MEMO_LIMIT", 2)
    library = SentimentIntensityAnalyzer()
    fast = FastSentimentIntensityAnalyzer()
    for text in _EDGE_CASES + _generated_texts(200, seed=9):
        assert repr(fast.polarity_scores(text)) == repr(library.polarity_scores(text)), text
    assert len(fast._token_info) <= 2


def test_compound_alone_matches_the_library_exactly() -> None:
    library = SentimentIntensityAnalyzer()
    fast = FastSentimentIntensityAnalyzer()
    for text in _EDGE_CASES + _generated_texts(300, seed=3):
        assert repr(fast.compound(text)) == repr(library.polarity_scores(text)["compound"]), text


def test_remembered_scores_keep_the_sign_of_zero_and_follow_thresholds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scorer = VaderScorer()
    compounds = iter([0.0, -0.0, 0.3, 0.3])
    monkeypatch.setattr(scorer._analyzer, "compound", lambda text: next(compounds))
    zero, negative_zero = scorer.score_one("a"), scorer.score_one("b")
    assert (repr(zero.score), repr(negative_zero.score)) == ("0.0", "-0.0")
    assert scorer.score_one("c").label == "positive"
    scorer.positive_threshold = 0.5  # a changed threshold must not reuse the old score
    assert scorer.score_one("d").label == "neutral"
