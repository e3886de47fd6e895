"""Text primitives that every stage matches with: scripts, folding and word tokens. Pure.

Brand matching (ingest), topic and lexicon matching and keywords (sentiment) and language
identification all compare text through this one module, so they agree on what a script,
a word and "the same text" are:

- Scripts: the CJK ranges (Han, kana, Hangul: scripts written without spaces between
  words) and the scripts that belong to one language (Thai, Greek, Hebrew...).
- `fold`: the comparison form of a text (compatibility forms and width unified with NFKC,
  case folded, accents stripped), applied to terms and texts alike, so ``ＮＥＳＴＬＥ``,
  ``Nestlé`` and ``nestle`` are one word to every matcher.
- `tokenize`: word tokens (maximal runs of letters and digits) and clause punctuation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

Ranges = tuple[tuple[int, int], ...]

# -- scripts ------------------------------------------------------------------------------

# Chinese: Han ideographs and radicals, and Bopomofo (a phonetic script used only with them).
HAN: Ranges = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3100, 0x312F),  # Bopomofo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x2FA1F),  # CJK extensions B-F, compatibility supplement
)
KANA: Ranges = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0xFF66, 0xFF9F),  # half-width Katakana
)
HANGUL: Ranges = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0xAC00, 0xD7AF),  # Hangul syllables
)
CJK: Ranges = tuple(sorted(HAN + KANA + HANGUL))

# Scripts written by one language only: a text in them needs no statistical model.
SCRIPT_LANGUAGES: tuple[tuple[str, Ranges], ...] = (
    ("th", ((0x0E00, 0x0E7F),)),
    ("el", ((0x0370, 0x03FF), (0x1F00, 0x1FFF))),
    ("he", ((0x0590, 0x05FF),)),
    ("ka", ((0x10A0, 0x10FF),)),
    ("hy", ((0x0530, 0x058F),)),
    ("km", ((0x1780, 0x17FF),)),
    ("lo", ((0x0E80, 0x0EFF),)),
    ("my", ((0x1000, 0x109F),)),
    ("ta", ((0x0B80, 0x0BFF),)),
    ("bn", ((0x0980, 0x09FF),)),
)

# Languages written without spaces between words: matched by substring, not by token.
UNSEGMENTED = frozenset({"zh", "ja", "th", "lo", "km", "my"})


def char_class(ranges: Iterable[tuple[int, int]]) -> str:
    """Return a regular-expression character class (``[...]``) of code point ranges."""
    return "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges) + "]"


CJK_CHAR = re.compile(char_class(CJK))


def is_cjk(char: str) -> bool:
    """True for a character of a script written without spaces between words (CJK)."""
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in CJK)


def has_cjk(text: str) -> bool:
    """True when `text` contains a CJK character."""
    return CJK_CHAR.search(text) is not None


def is_word_char(char: str) -> bool:
    """True for a character that continues a word of a spaced script (a letter or digit).

    The same characters make up the words of `tokenize`; CJK characters are not word
    characters here, since those scripts have no spaces to bound a word with.
    """
    return char.isalnum() and not is_cjk(char)


# -- folding ------------------------------------------------------------------------------

_COMBINING = re.compile(r"[\u0300-\u036f]")


def fold(text: str, accents: bool = True) -> str:
    """Return the comparison form of `text`: NFKC, case folded, and accents stripped.

    NFKC makes full-width and half-width forms and ligatures their plain letters
    (``ＡＣＭＥ`` -> ``acme``, ``ｶﾞ`` -> ``ガ``); `casefold` is lower-casing made for
    caseless matching (``Straße`` -> ``strasse``). With `accents`, Latin diacritics are
    stripped (``péssimo`` -> ``pessimo``); marks of other scripts (kana voicing, Indic
    vowel signs) are kept, since they change the word.
    """
    if text.isascii():  # NFKC leaves ASCII alone, and its case folding is lower-casing
        return text.lower()
    if not unicodedata.is_normalized("NFKC", text):  # the quick check is 30x cheaper
        text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    if accents:
        text = _COMBINING.sub("", unicodedata.normalize("NFD", text))
        text = unicodedata.normalize("NFC", text)
    return text


# -- tokens -------------------------------------------------------------------------------

# Words are maximal runs of letters and digits, so "n'est" gives "n", "est": an apostrophe
# (or an underscore) is not a word character and simply ends the run.
_TOKEN = re.compile(r"[^\W_]+|[!?.,;:]")
PUNCTUATION = frozenset("!?.,;:")


def tokenize(text: str, accents: bool = True) -> list[str]:
    """Split folded `text` into word tokens and clause punctuation (``n'est`` -> ``n est``)."""
    found: list[str] = _TOKEN.findall(fold(text, accents))
    return found
