"""Term tables: memoised lookups, phrase sizes and tokens shared between matchers."""

from services.sentiment.core.textmatch import TextTokens, TokenTable, text_of
from services.sentiment.core.topics import TopicLexicon
from services.sentiment.scorers.lexicon import LexiconSentimentScorer
from services.sentiment.scorers.lexicon_emotion import LexiconEmotionScorer
from shared.text import tokenize

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


def _reference_scan(terms: dict[str, float], tokens: list[str]) -> list[tuple[int, int, str]]:
    """The matching rules spelt out naively: longest phrase first, then exact, then prefix."""
    parsed = [(term, tokenize(term.rstrip("*")), term.endswith("*")) for term in terms]

    def matches(i: int, words: list[str], prefix: bool) -> bool:
        window = tokens[i : i + len(words)]
        if len(window) < len(words) or window[:-1] != words[:-1]:
            return False
        return window[-1].startswith(words[-1]) if prefix else window[-1] == words[-1]

    hits, i = [], 0
    while i < len(tokens):
        phrases = [(len(w), t) for t, w, p in parsed if len(w) > 1 and matches(i, w, p)]
        exact = [t for t, w, p in parsed if len(w) == 1 and not p and w[0] == tokens[i]]
        prefixes = [(len(w[0]), t) for t, w, p in parsed if len(w) == 1 and p and matches(i, w, p)]
        if phrases:
            size, term = max(phrases)
            hits.append((i, i + size, term))
            i += size
            continue
        if exact or prefixes:
            hits.append((i, i + 1, exact[0] if exact else max(prefixes)[1]))
        i += 1
    return hits


def test_scan_equals_the_naive_rules_on_random_token_lists() -> None:
    import random

    rng = random.Random(11)
    vocabulary = ["bad", "recall", "recalled", "rec", "record", "not", "working", "battery",
                  "drain", "draining", "ok", ",", "x", "fine"]  # fmt: skip
    for memo_limit in (3, 50_000):  # a memo that keeps starting over gives the same hits
        table = TokenTable(TERMS)
        table.memo_limit = memo_limit
        for _ in range(400):
            tokens = [rng.choice(vocabulary) for _ in range(rng.randrange(0, 12))]
            got = [(h.start, h.end, h.term) for h in table.scan(tokens)]
            assert got == _reference_scan(TERMS, tokens), tokens


def test_tokenize_splits_at_every_apostrophe_like_the_two_step_split() -> None:
    import re

    pair = re.compile(r"[^\W_]+(?:['’][^\W_]+)?|[!?.,;:]")
    for text in ["a'b'c d", "l’été, c'est 'cool'!", "rock'n'roll's", "'", "x''y", "don't."]:
        folded = text.lower()
        expected = [part for token in pair.findall(folded) for part in re.split("['’]", token)]
        assert tokenize(text, accents=False) == expected
