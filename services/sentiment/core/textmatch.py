"""Term lookup shared by the lexicon scorers and the topic matcher.

Latin-script (and other space-separated) languages are matched on whole tokens of the
folded text (`shared.text.fold`: NFKC, case folded, optionally with accents stripped); a
term may be a phrase of several tokens and may end in ``*`` to match any token that
starts with it (``recall*``). CJK and other unsegmented scripts are matched as substrings
with one Aho-Corasick automaton.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import compress
from typing import Any, Generic, TypeVar

import ahocorasick

from shared.text import UNSEGMENTED, fold, tokenize

T = TypeVar("T")


class TextTokens:
    """One text and its token lists, computed once per accents setting and then shared.

    The topic matcher and the lexicon scorers all tokenise the same mention; passing one
    `TextTokens` to each saves the repeated folding and regex work. Treat the returned
    lists as read-only: they are shared by every caller.
    """

    __slots__ = ("_folded", "_kept", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._folded: list[str] | None = None  # tokens with accents folded
        self._kept: list[str] | None = None  # tokens with accents kept

    @classmethod
    def of(cls, text: str | TextTokens) -> TextTokens:
        """Wrap a plain string; pass a `TextTokens` through unchanged."""
        return text if isinstance(text, TextTokens) else cls(text)

    def tokens(self, accents: bool = True) -> list[str]:
        """`tokenize(text, accents)`, computed on first use (ASCII text shares one list)."""
        found = self._folded if accents else self._kept
        if found is None:
            found = tokenize(self.text, accents)
            if self.text.isascii():  # folding accents changes nothing: both settings agree
                self._folded = self._kept = found
            elif accents:
                self._folded = found
            else:
                self._kept = found
        return found


def text_of(text: str | TextTokens) -> str:
    """The plain string behind `text`."""
    return text.text if isinstance(text, TextTokens) else text


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    """One matched term: token (or character) span and the value the term maps to."""

    start: int
    end: int
    term: str
    value: T


class _Memo(dict[str, Any]):
    """Token -> lookup answer; a missing token is looked up (and remembered) on access.

    Subscripting is then one C call for the tokens seen before, which lets `scan` map it
    over a whole token list.
    """

    __slots__ = ("_compute", "_limit")

    def __init__(self, compute: Callable[[str], Any], limit: Callable[[], int]) -> None:
        super().__init__()
        self._compute = compute
        self._limit = limit

    def __missing__(self, token: str) -> Any:
        found = self._compute(token)
        if len(self) >= self._limit():
            self.clear()
        self[token] = found
        return found


# A token's memo entry: its single-token answer and the sizes of phrases it starts.
_Entry = tuple[tuple[str, T] | None, tuple[int, ...] | None]


class TokenTable(Generic[T]):
    """Longest-match lookup of words, phrases and ``prefix*`` terms in a token list.

    Single-token answers are memoised in a bounded dict: social text is Zipfian, so a
    few thousand tokens cover most lookups, and the table is immutable after build.
    """

    memo_limit = 50_000  # tokens remembered before the memo starts over

    def __init__(self, terms: Mapping[str, T], accents: bool = True) -> None:
        self.accents = accents
        # token -> None when it neither matches alone nor starts a phrase, else
        # (single-token answer or None, phrase sizes starting with it or None)
        self._memo = _Memo(self._entry, lambda: self.memo_limit)
        self._exact: dict[tuple[str, ...], tuple[str, T]] = {}
        self._prefix: dict[str, tuple[str, T]] = {}
        # phrases whose last word is a prefix ("battery drain*"), keyed by the leading words
        self._phrase_prefix: dict[tuple[str, ...], list[tuple[str, str, T]]] = {}
        self._prefix_lengths: list[int] = []
        # first word of a phrase -> the phrase sizes (in tokens) starting with it, longest first
        self._phrase_sizes: dict[str, tuple[int, ...]] = {}
        for term, value in terms.items():
            if "*" in term.rstrip("*"):
                raise ValueError(f"term {term!r}: `*` is only allowed at the end")
            words = tokenize(term.rstrip("*"), accents)
            if not words:
                raise ValueError(f"term {term!r} has no word characters")
            if term.endswith("*") and len(words) == 1:
                self._prefix[words[0]] = (term, value)
            elif term.endswith("*"):
                lead = tuple(words[:-1])
                self._phrase_prefix.setdefault(lead, []).append((words[-1], term, value))
            else:
                self._exact[tuple(words)] = (term, value)
            if len(words) > 1:
                sizes = {*self._phrase_sizes.get(words[0], ()), len(words)}
                self._phrase_sizes[words[0]] = tuple(sorted(sizes, reverse=True))
        self._prefix_lengths = sorted({len(p) for p in self._prefix}, reverse=True)

    def __len__(self) -> int:
        return len(self._exact) + len(self._prefix)

    def lookup(self, token: str) -> tuple[str, T] | None:
        """Return (term, value) for one token, exact entries before prefixes."""
        entry: _Entry[T] | None = self._memo[token]
        return entry[0] if entry is not None else None

    def _entry(self, token: str) -> _Entry[T] | None:
        single = self._lookup_uncached(token)
        sizes = self._phrase_sizes.get(token)
        return None if single is None and sizes is None else (single, sizes)

    def _lookup_uncached(self, token: str) -> tuple[str, T] | None:
        found = self._exact.get((token,))
        if found is not None:
            return found
        for length in self._prefix_lengths:
            if length <= len(token):
                found = self._prefix.get(token[:length])
                if found is not None:
                    return found
        return None

    def scan(self, tokens: list[str]) -> list[Hit[T]]:
        """Return non-overlapping hits left to right, preferring the longest phrase."""
        # One memo entry per token in a C-level pass; most tokens have none (None). A token
        # without an entry only moves the scan on by one, so only tokens with an entry are
        # visited, skipping those that an earlier phrase consumed.
        entries: list[_Entry[T] | None] = list(map(self._memo.__getitem__, tokens))
        hits: list[Hit[T]] = []
        if not any(entries):
            return hits
        following = 0  # first position not consumed by an earlier hit
        for i, entry in compress(enumerate(entries), entries):
            if i < following or entry is None:  # (compress already left out the None)
                continue
            single, sizes = entry
            if sizes is not None:
                match = self._phrase_at(tokens, i, sizes)
                if match is not None:
                    hits.append(Hit(i, i + match[0], match[1], match[2]))
                    following = i + match[0]
                    continue
            if single is not None:
                hits.append(Hit(i, i + 1, single[0], single[1]))
            following = i + 1
        return hits

    def _phrase_at(
        self, tokens: list[str], i: int, sizes: tuple[int, ...]
    ) -> tuple[int, str, T] | None:
        """The longest phrase starting at `i`: (size, term, value), or None."""
        n = len(tokens)
        for size in sizes:  # only sizes some phrase starting with `token` has
            if size > n - i:
                continue
            found = self._exact.get(tuple(tokens[i : i + size])) or self._phrase_with_prefix(
                tokens, i, size
            )
            if found is not None:
                return size, found[0], found[1]
        return None

    def _phrase_with_prefix(self, tokens: list[str], i: int, size: int) -> tuple[str, T] | None:
        candidates = self._phrase_prefix.get(tuple(tokens[i : i + size - 1]))
        if candidates:
            last = tokens[i + size - 1]
            for prefix, term, value in candidates:
                if last.startswith(prefix):
                    return term, value
        return None


class SubstringTable(Generic[T]):
    """Substring lookup for unsegmented scripts (Chinese, Japanese, Thai) via Aho-Corasick.

    Terms and texts are compared folded (`shared.text.fold`), like every other matcher; with
    `folded=False` only lower-cased (emoji and symbols, where NFKC would turn ``‼`` into
    ``!!``).
    """

    def __init__(self, terms: Mapping[str, T], *, folded: bool = True) -> None:
        self._automaton: Any = ahocorasick.Automaton()
        self._size = 0
        self._folded = folded
        # An ASCII text (folded, still ASCII) contains only all-ASCII keys.
        self._ascii_keys = False
        for term, value in terms.items():
            key = self.prepare(term).rstrip("*")
            if key:
                self._automaton.add_word(key, (key, value))
                self._size += 1
                self._ascii_keys = self._ascii_keys or key.isascii()
        if self._size:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return self._size

    def prepare(self, text: str) -> str:
        """Return the form of `text` that terms are looked up in."""
        return fold(text) if self._folded else text.lower()

    def scan(self, text: str, *, prepared: bool = False) -> list[Hit[T]]:
        """Return non-overlapping hits, longest first where matches overlap.

        Hit positions index `prepare(text)` (`text` itself when it is `prepared`).
        """
        if not self._size or not text or (not self._ascii_keys and text.isascii()):
            return []
        seen = text if prepared else self.prepare(text)
        found: list[Hit[T]] = [
            Hit(end - len(key) + 1, end + 1, key, value)
            for end, (key, value) in self._automaton.iter(seen)
        ]
        found.sort(key=lambda h: (h.start, -(h.end - h.start)))
        kept: list[Hit[T]] = []
        last_end = -1
        for hit in found:
            if hit.start >= last_end:
                kept.append(hit)
                last_end = hit.end
        return kept


def build_table(
    terms: Mapping[str, T], language: str, accents: bool = True
) -> TokenTable[T] | SubstringTable[T]:
    """Build the right table for `language`: substring for unsegmented scripts."""
    if language in UNSEGMENTED:
        return SubstringTable(terms)
    return TokenTable(terms, accents)


def merge_terms(groups: Iterable[tuple[str, Iterable[str]]]) -> dict[str, list[str]]:
    """Map each term to every group that lists it (a term may belong to several)."""
    merged: dict[str, list[str]] = {}
    for group, terms in groups:
        for term in terms:
            owners = merged.setdefault(term, [])
            if group not in owners:
                owners.append(group)
    return merged
