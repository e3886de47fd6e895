"""Named entities of a mention, as story evidence: places, organisations, people.

Gazetteer-free and model-free, for the Latin-script lexicon languages (en, es, it, pt, fr,
de): a name is a capitalised word that does not start a sentence (``... floods in Manila``),
a short all-capitals acronym (``RCMP``, ``LAX``), a hashtag or an @handle. Runs of names are
kept as one entity (``West Texas``). Stopwords of every lexicon language are dropped, as is
everything when the text is shouted or in title case (every word capitalised says nothing
about names). Entities are folded to lower case without accents, so ``Québec`` and
``quebec`` are one; their first `limit` are returned in order of appearance.
"""

from __future__ import annotations

import functools
import re

from services.sentiment.core.keywords import extract_hashtags, stopwords
from shared.text import fold

LANGUAGES = ("en", "es", "it", "pt", "fr", "de")
MAX_ENTITIES = 12
_TITLE_SHARE = 0.6  # a text with this share of capitalised words is title case or shouted
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@(\w{2,30})")
_RETWEET = re.compile(r"^\s*RT\s+@\w+:?", re.IGNORECASE)
# A word, or a sentence end: names are the capitalised words that do not follow one.
_TOKEN = re.compile(r"[#@]?[^\W\d_][^\W_]*(?:['’-][^\W_]+)*|[.!?:;…\n]+")
_ACRONYM = re.compile(r"[A-Z]{2,5}")


@functools.cache
def _stop() -> frozenset[str]:
    return frozenset().union(*(stopwords(lang) for lang in LANGUAGES))


def _name(token: str, sentence_start: bool, stop: frozenset[str]) -> str | None:
    """`token` folded when it reads as a name here, else None."""
    if not token[0].isupper():
        return None
    acronym = _ACRONYM.fullmatch(token) is not None
    if not (acronym or (token[1:].islower() and not sentence_start)):
        return None
    folded = fold(token)
    return None if folded in stop else folded


def extract_entities(text: str, limit: int = MAX_ENTITIES) -> tuple[str, ...]:
    """The named entities of `text` (folded, de-duplicated, in order of appearance)."""
    found: dict[str, None] = {}
    for tag in extract_hashtags(text):
        found.setdefault("#" + fold(tag))
    for handle in _HANDLE.findall(text):
        found.setdefault("@" + handle.lower())
    body = _URL.sub(" ", _RETWEET.sub(" ", text))
    tokens = _TOKEN.findall(body)
    words = [t for t in tokens if t[0].isalpha()]
    capitalised = sum(1 for w in words if w[0].isupper())
    if words and capitalised / len(words) < _TITLE_SHARE:
        stop = _stop()
        run: list[str] = []
        sentence_start = True
        for token in [*tokens, "."]:
            folded = _name(token, sentence_start, stop)
            if folded:
                run.append(folded)
            elif run:
                found.setdefault(" ".join(run))
                run = []
            sentence_start = not token[0].isalnum() and token[0] not in "#@"
            if token[0] in "#@":
                sentence_start = False
    return tuple(list(found)[:limit])
