"""Property tests: text handling never raises on arbitrary Unicode and stays in range."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.sentiment.core.keywords import extract_hashtags, extract_keywords
from services.sentiment.core.language import detect_language
from services.sentiment.core.topics import TopicLexicon
from services.sentiment.scorers.lexicon import LexiconSentimentScorer

LEXICON = TopicLexicon.load()
SENTIMENT = LexiconSentimentScorer()

nasty = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.builds(lambda s: "\x00" + s + "\u202e" + s, st.text(max_size=50)),
    st.builds(lambda s: s + "\u0301" * 5000, st.text(max_size=20)),
    st.builds(lambda s: (s or "é") * 4000, st.text(min_size=0, max_size=5)),
    st.sampled_from(
        [
            "",
            "#",
            "##",
            "#＃#",
            "@",
            "http://",
            "*",
            "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
            "ﷺ" * 1000,
            "𒐫" * 500,
        ]
    ),
)
languages = st.sampled_from(["en", "es", "pt", "fr", "de", "it", "id", "zh", "ja", "ko", "und", ""])
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(text=nasty, hint=st.one_of(st.none(), st.text(max_size=20)))
def test_detect_language_total(text: str, hint: str | None) -> None:
    language, confidence = detect_language(text, hint)
    assert isinstance(language, str) and 2 <= len(language) <= 3
    assert 0.0 <= confidence <= 1.0


@PROPERTY
@given(text=nasty, language=languages)
def test_topic_match_total(text: str, language: str) -> None:
    found = LEXICON.match(text, language)
    assert set(found) <= set(LEXICON.topics)
    assert len(found) == len(set(found))


@PROPERTY
@given(text=nasty, language=languages, limit=st.integers(-2, 20))
def test_keywords_total(text: str, language: str, limit: int) -> None:
    keywords = extract_keywords(text, language, limit)
    assert len(keywords) <= max(limit, 0)
    assert len(keywords) == len(set(keywords))
    for tag in extract_hashtags(text):
        assert tag and tag == tag.lower()


@PROPERTY
@given(text=nasty, language=st.sampled_from(["es", "pt", "fr", "de", "it", "id"]))
def test_lexicon_sentiment_in_range(text: str, language: str) -> None:
    result = SENTIMENT.score_one(text, language)
    assert -1.0 <= result.score <= 1.0
    assert 0.0 <= result.confidence <= 1.0
