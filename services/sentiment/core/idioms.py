"""Idioms and hyperbole that hide a topic term ("died laughing", "sick burn", "mort de rire").

`idioms.yaml` beside this module lists, per language, the phrases whose crisis words are not
meant literally. The topic tagger asks `IdiomMask.of` for the spans they cover in a text and
drops the topic terms inside them. Every language's phrases apply to every text: short and
code-mixed posts are often misdetected, and a phrase of one language hardly ever occurs by
accident in another.

A phrase `cue ~ words` is a pair: `words` is figurative when `cue` comes at most
`NEAR` words before it ("battery ~ died" covers "died" in "the battery on my Acme died").
Only `words` is covered, so a real crisis term between the two still counts. Written
`[words] ~ cue`, the figurative words come first: `cue` follows them at most `NEAR` words
later ("[demanda] ~ super*" covers "demanda" in "la demanda del Acme superó ...").

The file's `frames` section lists markers that put a post's events inside a story: a fire,
an explosion or a death in a film, a series, a game or a trailer ("the dragon burns the
village in level 7", "o incêndio do episódio 4"). A frame hides only its `topics` (safety),
and only the terms within `near` words of one of its markers: a game that crashes or a
trailer that leaks is still a real complaint, and a marker far from the crisis word tells
nothing about it. A frame with `near: 0` covers the whole text, and `voids` undo it: a
problem reported as fixed or replaced ("the defect was fixed in two days") hides the
service topics, unless the text also says "not", "still", "again", "too"... in any
language, or goes on with a contrast after the fix ("replaced it, but the new one ...").

The file's `contrast` section lists, per language, the words after which a post says what
it came to say ("love the lineup *but* the smoke machine set a tent on fire", "lindo...
*pena que* parou de funcionar"): the context gate judges a crisis term after one of them
apart from the praise before it (`after_contrast`).

The file's `humour` section lists laughter markers (words such as "lol", "jajaja", "mdr"
and emoji such as 😂) and praise that borrows a word of fear ("scary good"): a post that
laughs or praises is not reporting a crisis, and the context gate (`core.context`) drops
its crisis topics.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.sentiment.core.textmatch import Hit, SubstringTable, TextTokens, TokenTable
from shared.contracts.yaml_files import read_yaml_model
from shared.errors import ConfigError
from shared.text import UNSEGMENTED

DEFAULT_PATH = Path(__file__).with_name("idioms.yaml")
NEAR = 3  # words allowed between the cue of a pair and its figurative words
PAIR = "~"


class IdiomListError(ConfigError):
    """The idiom list is missing or invalid."""


class Humour(BaseModel):
    """Laughter markers: words (topic-term syntax, any language) and emoji; and praise that
    borrows a word of fear ("scary good"), which says as plainly that nothing went wrong."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    words: list[str] = Field(min_length=1)
    emoji: list[str] = Field(default_factory=list)
    praise: list[str] = Field(default_factory=list)


class Frame(BaseModel):
    """Markers (topic-term syntax, any language) that put what is near them in a story: the
    terms of `topics` within `near` words of a marker are not reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topics: list[str] = Field(min_length=1)
    near: int = Field(ge=0, le=20)  # 0: the whole text
    markers: list[str] = Field(min_length=1)
    voids: list[str] = Field(default_factory=list)  # any of these in the text: no frame


class IdiomFile(BaseModel):
    """The YAML file: phrases per ISO 639-1 language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    idioms: dict[str, list[str]]
    humour: Humour
    frames: dict[str, Frame] = Field(default_factory=dict)
    contrast: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("idioms")
    @classmethod
    def _check(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for language, phrases in value.items():
            if len(language) != 2 or not language.isalpha() or not language.islower():
                raise ValueError(f"language {language!r} is not an ISO 639-1 code")
            cleaned = [str(p).strip() for p in phrases]
            if any(not p or p == "*" for p in cleaned):
                raise ValueError(f"{language}: empty phrase")
            for phrase in cleaned:
                parts = [
                    part.strip().removeprefix("[").removesuffix("]") for part in phrase.split(PAIR)
                ]
                if len(parts) > 2 or any(not part.strip() for part in parts):
                    raise ValueError(f"{language}: {phrase!r} is not `cue {PAIR} words`")
                if len(parts) == 2 and language in UNSEGMENTED:
                    raise ValueError(f"{language}: pairs need words ({phrase!r})")
            value[language] = cleaned
        return value


@dataclass(frozen=True, slots=True)
class Spans:
    """What the idioms cover in one text: token spans and folded-character spans; and the
    token spans where a frame hides some topics only."""

    tokens: tuple[tuple[int, int], ...] = ()
    chars: tuple[tuple[int, int], ...] = ()
    framed: tuple[tuple[int, int, frozenset[str]], ...] = ()

    def covers(self, hit: Hit[Any], *, chars: bool) -> bool:
        """True when `hit` (token or character positions) lies inside one idiom."""
        spans = self.chars if chars else self.tokens
        return any(start <= hit.start and hit.end <= end for start, end in spans)

    def hidden(self, hit: Hit[Any], *, chars: bool) -> frozenset[str]:
        """The topics a frame hides for `hit` (token positions; none for characters)."""
        if chars or not self.framed:
            return frozenset()
        out: frozenset[str] = frozenset()
        for start, end, topics in self.framed:
            if start <= hit.start and hit.end <= end:
                out |= topics
        return out


class IdiomMask:
    """The compiled idiom list: phrases and pairs for spaced scripts, substrings for CJK."""

    def __init__(
        self,
        phrases: dict[str, list[str]],
        humour: Humour | None = None,
        frames: dict[str, Frame] | None = None,
        contrast: dict[str, list[str]] | None = None,
    ) -> None:
        spaced = [p for lang, ps in phrases.items() if lang not in UNSEGMENTED for p in ps]
        unspaced = {p: True for lang, ps in phrases.items() if lang in UNSEGMENTED for p in ps}
        following: dict[str, list[str]] = {}  # cue -> the figurative words that may follow
        preceding: dict[str, list[str]] = {}  # cue -> the figurative words it may follow
        for phrase in spaced:
            if PAIR in phrase:
                first, second = (part.strip() for part in phrase.split(PAIR))
                if first.startswith("[") and first.endswith("]"):
                    preceding.setdefault(second, []).append(first[1:-1].strip())
                else:
                    following.setdefault(first, []).append(second)
        try:
            self._tokens = TokenTable({p: True for p in spaced if PAIR not in p})
            self._cues = TokenTable(dict.fromkeys(following, True))
            self._after = {
                cue: TokenTable(dict.fromkeys(words, True)) for cue, words in following.items()
            }
            self._late_cues = TokenTable(dict.fromkeys(preceding, True))
            self._before = {
                cue: TokenTable(dict.fromkeys(words, True)) for cue, words in preceding.items()
            }
        except ValueError as exc:
            raise IdiomListError(f"idiom list: {exc}") from exc
        self._chars = SubstringTable(unspaced)
        self.phrases = {lang: tuple(ps) for lang, ps in phrases.items()}
        try:
            markers = [*humour.words, *humour.praise] if humour else []
            self._laughs = TokenTable(dict.fromkeys(markers, True))
        except ValueError as exc:
            raise IdiomListError(f"humour words: {exc}") from exc
        self._laugh_emoji = tuple(humour.emoji) if humour else ()
        try:
            self._frames = [
                (
                    TokenTable(dict.fromkeys(f.markers, True)),
                    TokenTable(dict.fromkeys(f.voids, True)) if f.voids else None,
                    f.near,
                    frozenset(f.topics),
                )
                for f in (frames or {}).values()
            ]
        except ValueError as exc:
            raise IdiomListError(f"frame markers: {exc}") from exc
        try:
            self._contrast = {
                lang: TokenTable(dict.fromkeys(words, True))
                for lang, words in (contrast or {}).items()
                if words
            }
            words = sorted({w for ws in (contrast or {}).values() for w in ws})
            self._any_contrast = TokenTable(dict.fromkeys(words, True)) if words else None
        except ValueError as exc:
            raise IdiomListError(f"contrast words: {exc}") from exc

    @classmethod
    def load(cls, path: Path | str | None = None) -> IdiomMask:
        """Load and compile an idiom file (the packaged `idioms.yaml` by default)."""
        if path is None:
            return _packaged()
        data = _read(Path(path))
        return cls(data.idioms, data.humour, data.frames, data.contrast)

    @property
    def accents(self) -> bool:
        """Whether token positions index the accent-folded tokens (as the topic tables do)."""
        return self._tokens.accents

    def of(self, doc: TextTokens) -> Spans:
        """The spans of `doc` the idioms cover (token positions in `doc.tokens(accents)`)."""
        tokens = doc.tokens(self.accents)
        spans = [(h.start, h.end) for h in self._tokens.scan(tokens)]
        for cue in self._cues.scan(tokens):
            window = tokens[cue.end : cue.end + NEAR + 4]  # a figurative phrase is short
            spans += [
                (cue.end + h.start, cue.end + h.end)
                for h in self._after[cue.term].scan(window)
                if h.start <= NEAR
            ]
        for cue in self._late_cues.scan(tokens):
            start = max(0, cue.start - NEAR - 4)
            spans += [
                (start + h.start, start + h.end)
                for h in self._before[cue.term].scan(tokens[start : cue.start])
                if cue.start - (start + h.end) <= NEAR
            ]
        chars = tuple((h.start, h.end) for h in self._chars.scan(doc.text))
        return Spans(tuple(spans), chars, self._framed(tokens))

    def _framed(self, tokens: list[str]) -> tuple[tuple[int, int, frozenset[str]], ...]:
        """The spans where a frame hides its topics; voids and contrasts are looked for only
        in a text where a marker was found."""
        out: list[tuple[int, int, frozenset[str]]] = []
        turns: list[int] | None = None  # where contrasts start, found at the first need
        for table, voids, near, topics in self._frames:
            hits = table.scan(tokens)
            if not hits or (voids is not None and voids.scan(tokens)):
                continue
            for h in hits:
                if near:
                    out.append((max(0, h.start - near), h.end + near, topics))
                    continue
                if turns is None:
                    contrast = self._any_contrast
                    turns = [c.start for c in contrast.scan(tokens)] if contrast else []
                if not any(turn >= h.end for turn in turns):  # "fixed, but ..." undoes it
                    out.append((0, len(tokens), topics))
        return tuple(out)

    def after_contrast(self, doc: TextTokens, language: str) -> str | None:
        """The words after the first contrast of `language` ("but", "pero", "aber", "peccato")
        in `doc`, joined; None without one. English stands in for an unknown language."""
        table = self._contrast.get(language.lower().split("-", 1)[0]) or self._contrast.get("en")
        if table is None:
            return None
        tokens = doc.tokens(self.accents)
        hits = table.scan(tokens)
        if not hits:
            return None
        return " ".join(tokens[min(h.end for h in hits) :])

    def laughs(self, doc: TextTokens) -> bool:
        """True when the text laughs (a laughter word or emoji) or praises ("scary good")."""
        if not doc.text.isascii() and any(e in doc.text for e in self._laugh_emoji):
            return True
        return len(self._laughs) > 0 and bool(self._laughs.scan(doc.tokens(self.accents)))


def _read(path: Path) -> IdiomFile:
    return read_yaml_model(path, IdiomFile, IdiomListError, "idiom list")


@functools.cache
def _packaged() -> IdiomMask:
    data = _read(DEFAULT_PATH)
    return IdiomMask(data.idioms, data.humour, data.frames, data.contrast)
