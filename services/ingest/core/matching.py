"""Pure brand matching: one Aho-Corasick pass over the text finds every watched term.

Latin-script terms match on word boundaries ("Apple" is not in "Pineapple"); CJK terms
(Han, kana, Hangul: scripts written without spaces) match as substrings. Terms and texts
are compared folded (`shared.text.fold`: NFKC, case folded, accents stripped), the form
topic matching uses too, so "ＮＥＳＴＬＥ", "Nestlé" and "nestle" are one name. Accents
that a text leaves out are forgiven, accents it writes must agree with the term's: "nestle"
and "NESTLÉ" are Nestlé, but German "über" is not the brand Uber and French "côté" is not
Côte (people drop accents when they type; they do not add foreign ones). An
exclusion ("apple pie") suppresses the brand terms it covers, so "apple pie" alone is not
Apple but "apple pie and an Apple Watch" still is.

Competitors a watchlist lists without a watchlist of their own are matched too, by their
name, so their share of voice is counted; `Matcher.competitors` names them, and a mention
carries them apart from its watched brands (no incident is ever opened for them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from services.ingest.core.watchlist import Watchlist
from shared.text import fold, is_word_char


def _is_word(char: str) -> bool:
    # An underscore joins words in handles and tags: "acme_fan" is not a mention of Acme.
    return char == "_" or is_word_char(char)


@dataclass(frozen=True, slots=True)
class _Pattern:
    brand: str
    length: int
    exclusion: bool
    bound_start: bool
    bound_end: bool
    marked: str  # the term folded with its accents kept (same length as the key, or "")


class Matcher:
    """Finds which watched brands a text mentions; build once per watchlist version."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        self._automaton = ahocorasick.Automaton()
        table: dict[str, list[_Pattern]] = {}
        watchlists = list(watchlists)
        self.brands: list[str] = [w.brand for w in watchlists]
        owned = set(self.brands)
        # Tracked competitors: listed by a watchlist, without one of their own.
        self.competitors: list[str] = list(
            dict.fromkeys(c for w in watchlists for c in w.competitors if c not in owned)
        )
        # Those whose crises a watchlist listing them watches (`watch_competitors`).
        self.watched_competitors: list[str] = [
            c
            for c in self.competitors
            if any(w.watch_competitors and c in w.competitors for w in watchlists)
        ]
        entries = [
            (w.brand, [(t, False) for t in w.terms] + [(t, True) for t in w.exclusions])
            for w in watchlists
        ] + [(c, [(c, False)]) for c in self.competitors]
        for brand, terms in entries:
            for term, exclusion in terms:
                key = fold(term).strip()
                if not key:
                    continue
                marked = fold(term, accents=False).strip()
                pattern = _Pattern(
                    brand=brand,
                    length=len(key),
                    exclusion=exclusion,
                    bound_start=_is_word(key[0]),
                    bound_end=_is_word(key[-1]),
                    marked=marked if len(marked) == len(key) else "",
                )
                table.setdefault(key, []).append(pattern)
        for key, patterns in table.items():
            self._automaton.add_word(key, tuple(patterns))
        self._empty = not table
        if not self._empty:
            self._automaton.make_automaton()

    def match(self, text: str) -> list[str]:
        """Brands mentioned in `text`, in watchlist order, then tracked competitors."""
        if self._empty or not text:
            return []
        folded = fold(text)
        marked = fold(text, accents=False)
        # Accents can be compared position by position only when stripping them kept the
        # length (it does for precomposed letters); an ASCII text has none to compare.
        if text.isascii() or len(marked) != len(folded):
            marked = ""
        hits: dict[str, list[tuple[int, int]]] = {}
        excluded: dict[str, list[tuple[int, int]]] = {}
        last = len(folded) - 1
        for end, patterns in self._automaton.iter(folded):
            for p in patterns:
                start = end - p.length + 1
                if p.bound_start and start > 0 and _is_word(folded[start - 1]):
                    continue
                if p.bound_end and end < last and _is_word(folded[end + 1]):
                    continue
                if marked and p.marked and not _accents_agree(marked, folded, start, p.marked):
                    continue
                (excluded if p.exclusion else hits).setdefault(p.brand, []).append((start, end))
        found = {
            brand
            for brand, spans in hits.items()
            if any(not _covered(span, excluded.get(brand, ())) for span in spans)
        }
        return [b for b in (*self.brands, *self.competitors) if b in found]


def _covered(span: tuple[int, int], exclusions: Iterable[tuple[int, int]]) -> bool:
    start, end = span
    return any(x_start <= start and end <= x_end for x_start, x_end in exclusions)


def _accents_agree(marked: str, folded: str, start: int, term: str) -> bool:
    """True when every accented letter of the text span is the term's letter, accent and all.

    A letter the text writes without its accent matches the accented term letter ("nestle"
    is Nestlé); an accent the term does not have ("über" against Uber) is a different word.
    """
    for offset, wanted in enumerate(term):
        written = marked[start + offset]
        if written != wanted and written != folded[start + offset]:
            return False
    return True
