"""Lexicon sentiment and emotion scorers: rules, languages, hand-made evaluation sets."""

import json
from pathlib import Path

import pytest

from services.sentiment.scorers.base import EmotionScorer, SentimentScorer
from services.sentiment.scorers.lexicon import (
    LexiconError,
    LexiconSentimentScorer,
    emoji_valence,
)
from services.sentiment.scorers.lexicon_emotion import LexiconEmotionScorer
from shared.schemas import EMOTIONS

DATA = Path(__file__).resolve().parents[2] / "data"
# Floors below what the sets score today: they catch regressions, not prove accuracy.
EVAL_FLOORS = {"es": 0.8, "pt": 0.8, "fr": 0.8, "de": 0.8, "it": 0.8, "id": 0.8}


@pytest.fixture(scope="module")
def lexicon() -> LexiconSentimentScorer:
    return LexiconSentimentScorer()


@pytest.fixture(scope="module")
def emotions() -> LexiconEmotionScorer:
    return LexiconEmotionScorer()


def test_covers_major_languages(lexicon: LexiconSentimentScorer) -> None:
    checked: SentimentScorer = lexicon
    for language in ("es", "pt", "fr", "de", "it", "id"):
        assert checked.supports(language)
    for language in ("en", "zh", "ko", "und", "xx"):
        assert not checked.supports(language)


def test_unsupported_language_raises(lexicon: LexiconSentimentScorer) -> None:
    with pytest.raises(LexiconError, match="not supported"):
        lexicon.score_one("hello", "ko")


def test_missing_lexicon_is_a_clear_error() -> None:
    with pytest.raises(LexiconError, match="no sentiment lexicon"):
        LexiconSentimentScorer(languages=["xx"])


@pytest.mark.parametrize(
    ("language", "text", "label"),
    [
        ("es", "El producto llegó roto, una vergüenza", "negative"),
        ("es", "Me encantó, excelente calidad", "positive"),
        ("pt", "O pedido não chegou, péssimo atendimento", "negative"),
        ("fr", "Colis jamais reçu. Arnaque !", "negative"),
        ("de", "Das Paket kam beschädigt an, echt enttäuschend", "negative"),
        ("it", "Prodotto ottimo, spedizione veloce", "positive"),
        ("id", "barangnya rusak, kecewa bgt", "negative"),
        ("es", "La tienda abre a las nueve", "neutral"),
    ],
)
def test_labels(lexicon: LexiconSentimentScorer, language: str, text: str, label: str) -> None:
    assert lexicon.score_one(text, language).label == label


def test_negation_flips_and_damps(lexicon: LexiconSentimentScorer) -> None:
    good = lexicon.score_one("Es bueno", "es").score
    not_good = lexicon.score_one("No es bueno", "es").score
    assert good > 0 > not_good
    assert abs(not_good) < abs(good)
    assert lexicon.score_one("Pas mal du tout", "fr").label == "positive"


def test_negation_stops_at_clause_boundary(lexicon: LexiconSentimentScorer) -> None:
    assert lexicon.score_one("O pedido não chegou, péssimo", "pt").score < -0.5


def test_boosters_caps_and_exclamations_strengthen(lexicon: LexiconSentimentScorer) -> None:
    base = lexicon.score_one("el servicio es malo", "es").score
    assert lexicon.score_one("el servicio es muy malo", "es").score < base
    assert lexicon.score_one("el servicio es MALO", "es").score < base
    assert lexicon.score_one("el servicio es malo!!!", "es").score < base


def test_contrast_weights_the_second_clause(lexicon: LexiconSentimentScorer) -> None:
    assert lexicon.score_one("Bonito, pero llegó roto", "es").label == "negative"


def test_accents_are_optional(lexicon: LexiconSentimentScorer) -> None:
    assert lexicon.score_one("pessimo atendimento", "pt").label == "negative"


def test_emoji_count_in_every_language(lexicon: LexiconSentimentScorer) -> None:
    assert emoji_valence("great 😍😍 :)")[1] == 3
    assert emoji_valence("no emoji here") == (0.0, 0)
    assert lexicon.score_one("pedido 😡😡", "es").label == "negative"
    assert lexicon.score_one("Paket 😍", "de").label == "positive"


def test_scores_stay_in_range(lexicon: LexiconSentimentScorer) -> None:
    for result in lexicon.score(["malo " * 500, "bueno!!!!!!!!" * 50, "", "🤬" * 1000], "es"):
        assert -1.0 <= result.score <= 1.0
        assert 0.0 <= result.confidence <= 1.0


@pytest.mark.parametrize("language", sorted(EVAL_FLOORS))
def test_hand_made_evaluation_set(lexicon: LexiconSentimentScorer, language: str) -> None:
    rows = [json.loads(line) for line in (DATA / f"sentiment_{language}.jsonl").open()]
    assert len(rows) >= 20
    predicted = lexicon.score([row["text"] for row in rows], language)
    accuracy = sum(p.label == r["label"] for p, r in zip(predicted, rows)) / len(rows)
    assert accuracy >= EVAL_FLOORS[language]


def test_emotion_scorer_protocol_and_distribution(emotions: LexiconEmotionScorer) -> None:
    checked: EmotionScorer = emotions
    assert checked.supports("zh") and checked.supports("es") and checked.supports("en")
    assert not checked.supports("ko")  # no Korean emotion lexicon: left unscored
    scores = checked.score(["Estoy furioso con este servicio"], "es")[0]
    assert set(scores) == set(EMOTIONS)
    assert all(0.0 <= value <= 1.0 for value in scores.values())
    assert abs(sum(scores.values()) - 1.0) < 0.01
    assert max(scores, key=scores.__getitem__) == "anger"


@pytest.mark.parametrize(
    ("language", "text", "emotion"),
    [
        ("es", "Me da miedo, el cargador explotó", "fear"),
        ("pt", "Que nojo, comida podre", "disgust"),
        ("fr", "Je suis en colère, c'est scandaleux", "anger"),
        ("de", "Leider sehr enttäuscht", "sadness"),
        ("it", "Che paura, è esploso", "fear"),
        ("id", "Saya marah banget", "anger"),
        ("zh", "充电宝爆炸了，太可怕了", "fear"),
        ("zh", "吃出了虫子，恶心", "disgust"),
        ("de", "Paket ist da", "neutral"),
    ],
)
def test_emotions(emotions: LexiconEmotionScorer, language: str, text: str, emotion: str) -> None:
    scores = emotions.score_one(text, language)
    assert max(scores, key=scores.__getitem__) == emotion


def test_negated_emotion_is_skipped(emotions: LexiconEmotionScorer) -> None:
    assert emotions.score_one("我不生气", "zh")["anger"] == 0.0
    assert emotions.score_one("No tengo miedo", "es")["fear"] == 0.0


def test_emoji_emotion_counts(emotions: LexiconEmotionScorer) -> None:
    assert emotions.score_one("Paket 😡😡", "de")["anger"] > 0.5


def test_english_emotion_lexicon_catches_crisis_feelings(emotions: LexiconEmotionScorer) -> None:
    def top(text: str) -> str:
        scores = emotions.score([text], "en")[0]
        return max(scores, key=lambda e: scores[e])

    assert top("My phone caught fire while charging, I'm terrified") == "fear"
    assert top("This is a scam, I am furious and want my money back") == "anger"
    assert top("Found a cockroach in my salad, disgusting") == "disgust"
    assert top("The store opens at nine tomorrow") == "neutral"
    assert top("I'm not angry at all, love the new design") == "joy"


def test_emoji_shortcut_finds_what_the_whole_pattern_finds() -> None:
    import random

    from services.sentiment.scorers.lexicon import _emoji_matcher

    matcher = _emoji_matcher()
    pieces = [*list(matcher.table)[:40], ":)", ":(", "<3", "xD", " ", "a", ".", "!", "\ufe0f", "é"]
    rng = random.Random(4)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 10)))
        found = matcher.pattern.findall(text.replace("\ufe0f", ""))
        expected_total = 0.0
        for key in found:
            expected_total += matcher.table[key]
        assert emoji_valence(text) == (expected_total, len(found)), text
