"""One text module: brand and topic matching fold, split and see scripts the same way."""

from __future__ import annotations

import pytest

from services.ingest.core.matching import Matcher
from services.ingest.core.watchlist import Watchlist
from services.sentiment.core.topics import TopicLexicon
from shared.contracts.topics import TopicContract
from shared.text import (
    CJK,
    HAN,
    HANGUL,
    KANA,
    UNSEGMENTED,
    char_class,
    fold,
    has_cjk,
    is_cjk,
    is_word_char,
    tokenize,
)

# (term, language of the term, text, does the text mention the term?)
CASES = [
    ("Nestlé", "fr", "nestle rappelle du lait", True),  # accented term, text without
    ("Citroën", "fr", "CITROËN et citroen", True),
    ("Straße", "de", "STRASSE gesperrt", True),  # case folding, not just lower-casing
    ("recall", "en", "ＲＥＣＡＬＬ ｎｏｗ", True),  # full-width Latin
    ("acme", "en", "Ａｃｍｅ kettles", True),
    ("caf", "en", "café", False),  # whole words only, whatever the accents
    ("apple", "en", "pineapple juice", False),
    ("召回", "zh", "这款产品召回了", True),  # CJK: substrings
    ("召回", "zh", "這款產品被要求召回", True),
    ("リコール", "ja", "ﾘｺｰﾙ対象です", True),  # half-width katakana
    ("不良品", "ja", "届いたのは不良品", True),
    ("故障", "ja", "ｺｼｮｳ", False),  # kana is not kanji
    ("애크미", "ko", "애크미 제품 불량", True),  # Hangul
]


def _brand_matches(term: str, text: str) -> bool:
    return Matcher([Watchlist(brand="b", aliases=[term])]).match(text) == ["b"]


def _topic_matches(term: str, language: str, text: str) -> bool:
    contract = TopicContract.model_validate(
        {
            "version": 1,
            "topics": {
                "t": {
                    "name": "T",
                    "category": "t",
                    "critical": False,
                    "risk_weight": 1.0,
                    "terms": {language: [term]},
                }
            },
        }
    )
    return TopicLexicon(contract).match(text, language) == ["t"]


@pytest.mark.parametrize(("term", "language", "text", "expected"), CASES)
def test_brand_and_topic_matching_agree(
    term: str, language: str, text: str, expected: bool
) -> None:
    assert _brand_matches(term, text) is expected
    assert _topic_matches(term, language, text) is expected


# A brand is a proper name: an accent the text writes and the name lacks makes another word
# ("über" is not Uber), while a topic term is vocabulary, written without accents on purpose.
@pytest.mark.parametrize(
    ("term", "text", "brand", "topic"),
    [
        ("Uber", "Das ist über alles", False, True),
        ("Côte", "à côté de la gare", False, True),
        ("Uber", "UBER drivers strike", True, True),
        ("São Paulo", "SAO PAULO fc", True, True),  # accents left out are forgiven
        ("Nestlé", "Nestlè", False, True),  # to a brand, another accent is another letter
    ],
)
def test_brands_need_the_accents_the_text_writes(
    term: str, text: str, brand: bool, topic: bool
) -> None:
    assert _brand_matches(term, text) is brand
    assert _topic_matches(term, "en", text) is topic


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Péssimo SERVIÇO", "pessimo servico"),
        ("ＡＣＭＥ Ｃｏｒｐ", "acme corp"),
        ("Straße", "strasse"),
        ("ﬁnal", "final"),  # ligature
        ("ｶﾞｲﾄﾞ", "ガイド"),  # half-width kana with voicing marks
        ("ガイド", "ガイド"),  # kana voicing is kept: it changes the word
        ("हिंदी", "हिंदी"),  # so are Indic vowel signs
        ("한국어", "한국어"),  # Hangul survives decomposition
        ("plain ascii", "plain ascii"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold(folded) == folded


def test_fold_can_keep_accents() -> None:
    assert fold("Schön ＧＲＯSS", accents=False) == "schön gross"


def test_tokenize_splits_words_and_clause_punctuation() -> None:
    assert tokenize("C'est NUL， vraiment！") == ["c", "est", "nul", ",", "vraiment", "!"]
    assert tokenize("acme_fan #défaut") == ["acme", "fan", "defaut"]
    assert tokenize("Schön", accents=False) == ["schön"]


def test_scripts() -> None:
    assert all(is_cjk(c) for c in "召回リコール애크미ｶ𠀀ㄅ")
    assert not any(is_cjk(c) for c in "aé1ß!Ω")
    assert has_cjk("acme 召回") and not has_cjk("acme")
    assert set(CJK) == set(HAN) | set(KANA) | set(HANGUL)
    assert {"zh", "ja"} <= UNSEGMENTED
    assert char_class([(0x41, 0x43)]) == "[A-C]"


def test_word_characters() -> None:
    assert all(is_word_char(c) for c in "aZé9ß")
    assert not any(is_word_char(c) for c in "_'’ -召リ")
