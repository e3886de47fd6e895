"""Hashtag and keyword extraction."""

from services.sentiment.core.keywords import extract_hashtags, extract_keywords, stopwords


def test_hashtags_unicode_lowercase_dedup() -> None:
    text = "#BrandFail #brandfail #Überraschung #1 ＃召回 a#b https://x.com/#frag #话题# 太差"
    assert extract_hashtags(text) == ["话题", "brandfail", "überraschung", "召回"]


def test_no_hashtags() -> None:
    assert extract_hashtags("") == []
    assert extract_hashtags("price is #1 and # alone") == []


def test_keywords_drop_noise_and_stopwords() -> None:
    text = "RT @user: The battery exploded!! Battery recall needed now https://t.co/x #fail"
    keywords = extract_keywords(text, "en")
    assert keywords[0] == "battery"
    assert "recall" in keywords and "fail" in keywords
    assert not {"the", "rt", "user", "https", "now"} & set(keywords)


def test_keywords_other_languages() -> None:
    es = extract_keywords("El paquete no llegó, paquete perdido y la tienda no responde", "es")
    assert es[0] == "paquete" and "el" not in es and "tienda" in es
    de = extract_keywords("Das Paket ist kaputt und der Support antwortet nicht", "de")
    assert "paket" in de and "das" not in de


def test_chinese_keywords_use_jieba() -> None:
    keywords = extract_keywords("充电宝起火了，要求召回！客服不理人，充电宝质量太差", "zh")
    assert "召回" in keywords and "客服" in keywords
    assert not {"了", "的"} & set(keywords)


def test_limit_is_respected() -> None:
    text = " ".join(f"word{i}abc" for i in range(50))
    assert len(extract_keywords(text, "en", limit=5)) == 5
    assert extract_keywords(text, "en", limit=0) == []


def test_stopwords_include_social_filler() -> None:
    assert "lol" in stopwords("fr") and "le" in stopwords("fr")


def test_keyword_ties_keep_first_seen_order_and_noise_is_dropped() -> None:
    from services.sentiment.core.keywords import extract_keywords

    text = "zeta alpha zeta beta alpha gamma https://t.co/alpha @alpha WWW.alpha.com/x"
    assert extract_keywords(text, "en") == ["zeta", "alpha", "beta", "gamma"]
    assert extract_keywords("Café café CAFÉ résumé", "fr") == ["café", "résumé"]


def test_hashtags_without_marks_is_empty() -> None:
    from services.sentiment.core.keywords import extract_hashtags

    assert extract_hashtags("no tags at all") == []
    assert extract_hashtags("full width ＃タグ and #tag") == ["タグ", "tag"]


def test_ascii_shortcut_equals_the_general_word_path() -> None:
    from collections import Counter

    from services.sentiment.core.keywords import _keyword_stopwords, _tokens

    def general(text: str, language: str, limit: int) -> list[str]:
        stop = _keyword_stopwords(language)
        counts = Counter(w.lower() for w in _tokens(text.replace("#", " "), language))
        kept = [w for w in counts if w not in stop]
        return sorted(kept, key=counts.__getitem__, reverse=True)[:limit]

    texts = [
        "The Battery battery BATTERY died, the screen too; screen-time x-ray 4real",
        "it's the DON'T won't won't rock-n-roll rock-n-roll ab abc abcd",
        "Nothing but stopwords and the and of the",
        "one two three one two one",
    ]
    for text in texts:
        for language in ("en", "es", "und"):
            for limit in (1, 3, 8):
                assert extract_keywords(text, language, limit=limit) == general(
                    text, language, limit
                )


def test_ascii_keyword_pattern_keeps_exactly_the_words_of_three_or_more() -> None:
    import random
    import re

    from services.sentiment.core.keywords import _ASCII_KEYWORD

    word = re.compile(r"[a-z][a-z0-9]*(?:['-][a-z0-9]+)*")  # `_WORD` on lowered ASCII
    rng = random.Random(8)
    for _ in range(3_000):
        text = "".join(rng.choice("ab1'- .") for _ in range(rng.randrange(0, 25)))
        expected = [w for w in word.findall(text) if len(w) >= 3]
        assert _ASCII_KEYWORD.findall(text) == expected, text


def test_noise_shortcut_equals_the_full_pattern() -> None:
    import random

    from services.sentiment.core.keywords import _NOISE, _strip_noise, handles_only

    assert handles_only("@a hi @b") and handles_only("no at sign")
    assert not handles_only("mail a@b.co") and not handles_only("tab\t@x")
    pieces = ["@user1", "a@b.co", "x@y", "\t@z", "@@", "@", " ", "www.x.org", "WWW.Y", "://", "ab"]
    rng = random.Random(2)
    for _ in range(3_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 8)))
        assert _strip_noise(text) == _NOISE.sub(" ", text), text


def test_mention_keywords_put_hashtags_first() -> None:
    from datetime import UTC, datetime

    from services.sentiment.core.enrich import _keywords
    from shared.schemas import Mention

    def mention(text: str, tags: list[str]) -> Mention:
        now = datetime.now(UTC)
        return Mention(
            platform="x",
            external_id="1",
            author_id="a",
            text=text,
            created_at=now,
            brands=["acme"],
            hashtags=tags,
        )

    text = "battery Battery fire recall refund scam phone screen"
    words = extract_keywords(text, "en", limit=3)
    assert _keywords(mention(text, []), "en", 3) == words == ["battery", "fire", "recall"]
    assert _keywords(mention(text + " #Fire", []), "en", 3) == ["#fire", *words]
    assert _keywords(mention(text, ["a", "a", "b"]), "en", 3) == ["#a", "#b", *words]
