"""Term tables: memoised lookups, phrase sizes and tokens shared between matchers."""

from services.sentiment.scorers.lexicon import LexiconSentimentScorer
from services.sentiment.scorers.lexicon_emotion import LexiconEmotionScorer
from services.sentiment.textmatch import TextTokens, TokenTable, text_of, tokenize
from services.sentiment.topics import TopicLexicon

TERMS = {
    "bad": -2.0,
    "recall*": -3.0,
    "rec*": -1.0,
    "not working": -2.5,
    "battery drain*": -2.0,
    "battery": 0.5,
}


def test_lookup_memo_returns_the_same_answers_and_stays_bounded() -> None:
    table = TokenTable(TERMS)
    table.memo_limit = 4
    tokens = ["bad", "recalled", "record", "fine", "bad", "x", "y", "z", "recalled"]
    first = [table.lookup(t) for t in tokens]
    again = [table.lookup(t) for t in tokens]
    assert first == again
    assert first[:4] == [("bad", -2.0), ("recall*", -3.0), ("rec*", -1.0), None]
    assert len(table._memo) <= table.memo_limit


def test_scan_prefers_longest_phrase_and_uses_only_existing_sizes() -> None:
    table = TokenTable(TERMS)
    hits = table.scan(tokenize("Battery draining fast, battery ok, not working, bad recall"))
    assert [(h.term, h.start, h.end) for h in hits] == [
        ("battery drain*", 0, 2),
        ("battery", 4, 5),
        ("not working", 7, 9),
        ("bad", 10, 11),
        ("recall*", 11, 12),
    ]
    # a phrase start at the very end of the text falls back to the single word
    assert [h.term for h in table.scan(["battery"])] == ["battery"]


def test_text_tokens_compute_each_setting_once_and_share_ascii() -> None:
    doc = TextTokens("Service NUL, n'est pas bon")
    assert doc.tokens(True) == tokenize(doc.text, True)
    assert doc.tokens(True) is doc.tokens(True)
    assert doc.tokens(False) is doc.tokens(True)  # ASCII: folding accents changes nothing
    accented = TextTokens("Péssimo serviço")
    assert accented.tokens(True) == ["pessimo", "servico"]
    assert accented.tokens(False) == ["péssimo", "serviço"]
    assert TextTokens.of(doc) is doc
    assert text_of(doc) == text_of(doc.text) == doc.text


def test_tokenize_without_apostrophes_matches_the_split_path() -> None:
    assert tokenize("C'est l’horreur, vraiment!") == [
        "c",
        "est",
        "l",
        "horreur",
        ",",
        "vraiment",
        "!",
    ]
    assert tokenize("plain words here.") == ["plain", "words", "here", "."]


def test_scorers_give_the_same_result_for_shared_tokens_and_plain_text() -> None:
    topics, lexicon, emotion = TopicLexicon.load(), LexiconSentimentScorer(), LexiconEmotionScorer()
    cases = [
        ("es", "El pedido llegó roto, no funciona. ¡Qué estafa! Tengo miedo 😡"),
        ("fr", "Ce n'est pas bon, mais le rappel du produit est rassurant"),
        ("de", "Sehr schlecht, Betrug! Akku brennt"),
    ]
    for language, text in cases:
        doc = TextTokens(text)
        assert lexicon.score_one(doc, language) == lexicon.score_one(text, language)
        assert emotion.score_one(doc, language) == emotion.score_one(text, language)
        assert topics.match(doc, language) == topics.match(text, language)
