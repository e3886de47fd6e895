"""Sentence encoders: the shipped multilingual USE, any Hugging Face encoder, the text cache."""

from __future__ import annotations

import numpy as np
import pytest

from services.sentiment.encoders.cache import CachingEncoder
from services.sentiment.encoders.use import UniversalSentenceEncoder

FIRE_EN = "The battery of my phone caught fire while charging"
FIRE_ES = "La batería de mi teléfono se incendió mientras cargaba"
COFFEE = "This morning's coffee at the corner café was lovely"


@pytest.fixture(scope="module")
def use() -> UniversalSentenceEncoder:
    encoder = UniversalSentenceEncoder()
    encoder.load()
    return encoder


def test_use_returns_unit_rows_and_matches_meaning_across_languages(
    use: UniversalSentenceEncoder,
) -> None:
    vectors = use.encode([FIRE_EN, FIRE_ES, COFFEE])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    same_story = float(vectors[0] @ vectors[1])
    other = float(vectors[0] @ vectors[2])
    assert same_story > 0.6 > other


def test_use_covers_its_sixteen_languages_only(use: UniversalSentenceEncoder) -> None:
    assert all(use.supports(code) for code in ("en", "ar", "ja", "zh", "zh-TW", "tr", "ru"))
    assert not use.supports("hi") and not use.supports("vi") and not use.supports("id")


def test_use_handles_empty_odd_and_huge_texts(use: UniversalSentenceEncoder) -> None:
    vectors = use.encode(["", "   ", "🔥🔥🔥", "x" * 100_000])
    assert vectors.shape == (4, 512)
    assert np.isfinite(vectors).all()
    assert use.encode([]).shape == (0, 512)


def test_cache_encodes_each_distinct_text_once_and_returns_the_same_vectors(
    use: UniversalSentenceEncoder,
) -> None:
    cached = CachingEncoder(use, capacity=2)
    first = cached.encode([FIRE_EN, FIRE_EN, FIRE_ES])
    assert (cached.misses, cached.hits) == (2, 1)
    np.testing.assert_array_equal(first, use.encode([FIRE_EN, FIRE_EN, FIRE_ES]))
    cached.encode([FIRE_ES])
    assert cached.hits == 2
    cached.encode([COFFEE])  # capacity 2: the least recently used text (FIRE_EN) goes
    cached.encode([FIRE_EN])
    assert cached.misses == 4
