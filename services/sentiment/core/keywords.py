"""Hashtags and keywords of a mention, for grouping and for the incident summary.

Hashtags are Unicode-aware (``#Überraschung``, ``#话题``, and Weibo's ``#话题#`` form).
Keywords are the most frequent content words after dropping URLs, @handles and
stopwords (small per-language lists in `stopwords.yaml`); Chinese is cut with jieba.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from itertools import filterfalse
from pathlib import Path

import yaml

from shared.text import fold, has_cjk

STOPWORDS_PATH = Path(__file__).with_name("stopwords.yaml")
MAX_HASHTAG_CHARS = 100
MAX_KEYWORD_INPUT = 5_000  # keywords of a 40k-char post come from its start

_WEIBO_TAG = re.compile(r"[#＃]([^#＃\s]{1,64})[#＃]")
_TAG = re.compile(r"(?<![\w&/])[#＃](\w+)")
_NOISE = re.compile(r"(?:https?://|www\.)\S+|(?<!\w)@\w+|\S+@\S+\.\w+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:['’-][^\W_]+)*")
# The `_WORD` matches of three characters or more in lower-cased ASCII text, spelt with
# ranges (cheaper than categories). `[a-z][a-z0-9]*(?:['-][a-z0-9]+)*` is `_WORD` there;
# the lookahead holds exactly when its greedy match from that letter is that long, and a
# shorter word is skipped as a whole (no match can start inside it and run past its end).
_ASCII_KEYWORD = re.compile(
    r"[a-z](?=[a-z0-9]{2}|[a-z0-9]?['-][a-z0-9])[a-z0-9]*(?:['-][a-z0-9]+)*"
)
_HANDLE = re.compile(r"(?<!\w)@\w+")
_KANJI_KATAKANA_RUN = re.compile(r"[\u30a0-\u30ff\u4e00-\u9fff]{2,}")
# Only "w", "W" and "." lower-case to "w" and "." (checked over every code point), so this
# finds "www." in `text` exactly when `text.lower()` contains it, without lowering a copy.
_WWW = re.compile(r"www\.", re.IGNORECASE)
_FOLDED_LIMIT = 50_000  # non-ASCII words whose folded form is remembered


@functools.cache
def _stopwords() -> dict[str, frozenset[str]]:
    raw = yaml.safe_load(STOPWORDS_PATH.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{STOPWORDS_PATH} must map language codes to word lists")
    return {str(lang): frozenset(fold(str(w)) for w in words) for lang, words in raw.items()}


def stopwords(language: str) -> frozenset[str]:
    """Folded stopwords for `language`, plus the social filler shared by all languages."""
    table = _stopwords()
    return table.get(language, frozenset()) | table.get("any", frozenset())


@functools.lru_cache(maxsize=256)
def _keyword_stopwords(language: str) -> frozenset[str]:
    """Stopwords applied to keywords of `language`: its own plus English (built once)."""
    return stopwords(language) | stopwords("en")


def extract_hashtags(text: str) -> list[str]:
    """Return the hashtags in `text`, lower-cased, without ``#``, deduplicated in order."""
    if "#" not in text and "＃" not in text:
        return []
    found: list[str] = []
    remaining = text
    for match in _WEIBO_TAG.finditer(text):
        if has_cjk(match.group(1)):
            found.append(match.group(1))
            remaining = remaining.replace(match.group(0), " ", 1)
    found.extend(m.group(1) for m in _TAG.finditer(remaining))
    seen: dict[str, None] = {}
    for tag in found:
        cleaned = tag.strip("_").lower()[:MAX_HASHTAG_CHARS]
        if cleaned and not cleaned.isdigit():
            seen.setdefault(cleaned, None)
    return list(seen)


def _tokens(text: str, language: str) -> list[str]:
    if language == "zh" or (language in {"und", ""} and has_cjk(text)):
        from services.sentiment.core.segment import segment

        return [w for w in segment(text) if len(w) >= 2 and (has_cjk(w) or w.isalpha())]
    if language == "ja":
        return _KANJI_KATAKANA_RUN.findall(text)
    words: list[str] = _WORD.findall(text)
    if text.isascii():  # no CJK character can occur: only the length counts
        return [w for w in words if len(w) >= 3]
    return [w for w in words if len(w) >= 3 or (len(w) >= 2 and has_cjk(w))]


def extract_keywords(text: str, language: str, limit: int = 8) -> list[str]:
    """Return up to `limit` content words of `text`, most frequent first (ties: first seen)."""
    if limit <= 0 or not text:
        return []
    cleaned = _strip_noise(text[:MAX_KEYWORD_INPUT]).replace("#", " ").replace("＃", " ")
    stop = _keyword_stopwords(language)
    # Counter keeps first-seen order; dropping stopwords afterwards keeps the order of the
    # rest, and each distinct word is checked once instead of once per occurrence.
    counts: Counter[str]
    if cleaned.isascii() and language not in {"zh", "ja"}:
        # ASCII letters lower-case to letters: lowering first finds the same (lowered)
        # words, and `fold` of a lowered ASCII word is the word itself.
        words: list[str] = _ASCII_KEYWORD.findall(cleaned.lower())
        distinct = dict.fromkeys(words)
        if len(distinct) == len(words):  # every word once: the ranking is the text order
            return list(filterfalse(stop.__contains__, distinct))[:limit]
        counts = Counter(words)
        content = list(filterfalse(stop.__contains__, counts))
    else:
        counts = Counter(map(str.lower, _tokens(cleaned, language)))
        content = [w for w in counts if (w if w.isascii() else _folded(w)) not in stop]
    # sorting is stable: ties stay in order of appearance
    ranked = sorted(content, key=counts.__getitem__, reverse=True)
    return ranked[:limit]


# `fold(word)`, remembered (bounded): the stopword check of a non-ASCII word.
_folded = functools.lru_cache(maxsize=_FOLDED_LIMIT)(fold)


def _strip_noise(text: str) -> str:
    """Blank URLs, @handles and e-mail addresses (skipping the regex when none can occur)."""
    url = "://" in text or _WWW.search(text)
    if "@" not in text:
        return _NOISE.sub(" ", text) if url else text
    if url or not handles_only(text):
        return _NOISE.sub(" ", text)
    return _HANDLE.sub(" ", text)  # the other branches of `_NOISE` cannot match


def handles_only(text: str) -> bool:
    """True when every "@" starts `text` or follows a space: no e-mail address can match.

    (An e-mail address needs a non-space right before its "@"; a tab or newline before
    one gives False, which only costs the caller the full pattern.)
    """
    return text.count("@") == text.count(" @") + text.startswith("@")
