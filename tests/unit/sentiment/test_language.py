"""Language detection: scripts, hints, noise stripping and edge cases."""

import pytest

from services.sentiment.core.language import clean_for_detection, detect_language, normalize_hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My phone exploded while charging, this is dangerous!", "en"),
        ("El producto llegó roto y nadie responde a mis mensajes", "es"),
        ("O pedido não chegou e o atendimento é péssimo", "pt"),
        ("La livraison est en retard et le service client est nul", "fr"),
        ("Das Paket kam beschädigt an und niemand antwortet", "de"),
        ("Il prodotto è arrivato rotto e nessuno risponde", "it"),
        ("配送太慢了，客服也不理人", "zh"),
        ("配達が遅すぎる、最悪です", "ja"),
        ("배송이 너무 느려요 최악", "ko"),
        ("Η παράδοση άργησε πολύ", "el"),
        ("การจัดส่งช้ามาก", "th"),
    ],
)
def test_detects_common_languages(text: str, expected: str) -> None:
    language, confidence = detect_language(text)
    assert language == expected
    assert 0.5 <= confidence <= 1.0


def test_japanese_with_mostly_kanji_is_not_chinese() -> None:
    assert detect_language("東京駅で購入した商品が壊れていた")[0] == "ja"


def test_han_only_text_is_chinese() -> None:
    assert detect_language("質量太差")[0] == "zh"


@pytest.mark.parametrize(
    "text", ["", "   ", "😡😡😡", "https://t.co/abc123", "12345 !!!", "@brand"]
)
def test_no_letters_is_undetermined(text: str) -> None:
    assert detect_language(text) == ("und", 0.0)
    assert detect_language(text, hint="en") == ("und", 0.0)


def test_hint_decides_short_text() -> None:
    assert detect_language("ok", hint="es")[0] == "es"
    assert detect_language("ok") == ("und", 0.0)


def test_hint_does_not_override_clear_text() -> None:
    language, confidence = detect_language(
        "Das Paket kam beschädigt an und der Kundenservice antwortet nicht", hint="en"
    )
    assert language == "de"
    assert confidence > 0.5


def test_agreeing_hint_raises_confidence() -> None:
    _, alone = detect_language("muy bueno")
    language, hinted = detect_language("muy bueno", hint="es-MX")
    assert language == "es"
    assert hinted > alone


def test_urls_mentions_and_hashtag_marks_are_stripped() -> None:
    cleaned = clean_for_detection("@Brand #Fail see https://example.com/x and www.shop.io now")
    assert "@" not in cleaned and "http" not in cleaned and "#" not in cleaned
    assert "Fail" in cleaned
    assert (
        detect_language("@MegaCorp https://t.co/x El pedido llegó roto, qué vergüenza")[0] == "es"
    )


@pytest.mark.parametrize(
    ("hint", "expected"),
    [("en-US", "en"), ("zh-Hant", "zh"), ("in", "id"), ("pt_BR", "pt"), ("", None), ("xyz", None)],
)
def test_normalize_hint(hint: str, expected: str | None) -> None:
    assert normalize_hint(hint) == expected


def test_batch_detection_equals_one_by_one() -> None:
    from py3langid import langid

    from services.sentiment.core.language import _DEFAULT, LOCKSTEP_MIN_BATCH, detect_languages

    texts = [
        "My phone exploded while charging, this is dangerous!",
        "El producto llegó roto y nadie responde",
        "ok",
        "",
        "配送太慢了",
        "Das Paket kam beschädigt an " * 9,
        "SHOUTING IN CAPITALS IS STILL ENGLISH",
        "https://t.co/x @someone #tag",
    ] * 6
    hints = [None, "es", "en", None, "zh", "de", None, "fr"] * 6
    assert len(texts) >= LOCKSTEP_MIN_BATCH  # exercises the lock-step walk
    assert detect_languages(texts, hints) == [
        detect_language(t, h) for t, h in zip(texts, hints, strict=True)
    ]
    model = _DEFAULT._identifier()
    encoded = [model._encode(t) for t in texts]
    m = model._model
    expected = [langid.visit_counts(m.tk_nextmove, m._rowbase, m.tk_output, e) for e in encoded]
    walked = model._walk_lockstep(encoded)
    assert walked == expected
    assert [list(c.items()) if c else c for c in walked] == [  # same order: same float sums
        list(c.items()) if c else c for c in expected
    ]
