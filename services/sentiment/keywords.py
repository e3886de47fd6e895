"""Hashtags and keywords of a mention, for grouping and for the incident summary.

Hashtags are Unicode-aware (``#Überraschung``, ``#话题``, and Weibo's ``#话题#`` form).
Keywords are the most frequent content words after dropping URLs, @handles and
stopwords (small per-language lists in `stopwords.yaml`); Chinese is cut with jieba.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import yaml

from services.sentiment.textmatch import fold

STOPWORDS_PATH = Path(__file__).with_name("stopwords.yaml")
MAX_HASHTAG_CHARS = 100
MAX_KEYWORD_INPUT = 5_000  # keywords of a 40k-char post come from its start

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WEIBO_TAG = re.compile(r"[#＃]([^#＃\s]{1,64})[#＃]")
_TAG = re.compile(r"(?<![\w&/])[#＃](\w+)")
_NOISE = re.compile(r"(?:https?://|www\.)\S+|(?<!\w)@\w+|\S+@\S+\.\w+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:['’-][^\W_]+)*")
_KANJI_KATAKANA_RUN = re.compile(r"[\u30a0-\u30ff\u4e00-\u9fff]{2,}")


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
        if _CJK.search(match.group(1)):
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
    if language == "zh" or (language in {"und", ""} and _CJK.search(text)):
        from services.sentiment.segment import segment

        return [w for w in segment(text) if len(w) >= 2 and (_CJK.search(w) or w.isalpha())]
    if language == "ja":
        return _KANJI_KATAKANA_RUN.findall(text)
    return [w for w in _WORD.findall(text) if len(w) >= 3 or (len(w) >= 2 and _CJK.search(w))]


def extract_keywords(text: str, language: str, limit: int = 8) -> list[str]:
    """Return up to `limit` content words of `text`, most frequent first (ties: first seen)."""
    if limit <= 0 or not text:
        return []
    cleaned = _strip_noise(text[:MAX_KEYWORD_INPUT]).replace("#", " ").replace("＃", " ")
    stop = _keyword_stopwords(language)
    counts: Counter[str] = Counter()
    for token in _tokens(cleaned, language):
        word = token.lower()
        # `fold` of an ASCII word is the word itself (already lower-cased)
        if (word if word.isascii() else fold(word)) not in stop:
            counts[word] += 1
    # counts keeps first-seen order and sorting is stable: ties stay in order of appearance
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)
    return ranked[:limit]


def _strip_noise(text: str) -> str:
    """Blank URLs, @handles and e-mail addresses (skipping the regex when none can occur)."""
    if "@" in text or "://" in text or "www." in text.lower():
        return _NOISE.sub(" ", text)
    return text
