"""Rule-based sentiment for languages without a trained model, from hand-written lexicons.

One YAML file per language under `lexicons/` lists polar words with a valence in
[-4, 4] (phrases and ``stem*`` prefixes allowed), negators, boosters and contrast words.
Scoring follows VADER's rules: boosters and CAPS strengthen the next polar word, a negator
within three tokens flips and damps it, "but" shifts weight to what follows, exclamation
marks amplify, emoji count in every language, and the sum is squashed into [-1, 1].
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from itertools import compress
from pathlib import Path
from typing import NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.sentiment.core.textmatch import TextTokens, TokenTable, text_of
from shared.errors import ConfigError
from shared.schemas import SentimentLabel, SentimentScore
from shared.text import PUNCTUATION, tokenize

LEXICON_DIR = Path(__file__).with_name("lexicons")
_RAW_WORD = re.compile(r"[^\W_]+")
NAME = "lexicon-v1"

NEGATION_SCALAR = -0.74  # VADER's: "not good" is mildly negative, not the mirror of "good"
NEGATION_WINDOW = 3
CAPS_BOOST = 0.733
EXCLAMATION_BOOST = 0.292
MAX_EXCLAMATIONS = 4
CONTRAST_BEFORE, CONTRAST_AFTER = 0.5, 1.5
NORMALIZE_ALPHA = 15.0
POLAR_THRESHOLD = 0.05


class LexiconError(ConfigError):
    """A lexicon file is missing or malformed."""


class LexiconFile(BaseModel):
    """Schema of `lexicons/<lang>.yaml`."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(pattern=r"^[a-z]{2}$")
    fold_accents: bool = True
    negators: list[str] = Field(default_factory=list)
    boosters: dict[str, float] = Field(default_factory=dict)
    contrast: list[str] = Field(default_factory=list)
    words: dict[str, float] = Field(min_length=1)


class EmojiFile(BaseModel):
    """Schema of `lexicons/emoji.yaml`: emoji and ASCII emoticons with a valence."""

    model_config = ConfigDict(extra="forbid")

    emoji: dict[str, float]
    emoticons: dict[str, float] = Field(default_factory=dict)


def _load_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LexiconError(f"cannot read lexicon {path}: {exc}") from exc


class _EmojiMatcher(NamedTuple):
    """The emoji/emoticon pattern, its valences, and cheaper patterns for texts it allows."""

    pattern: re.Pattern[str]
    table: dict[str, float]
    emoji_start: re.Pattern[str]  # any first character of an emoji key
    emoticons: re.Pattern[str]  # the emoticon branch of `pattern` alone


@functools.cache
def _emoji_matcher() -> _EmojiMatcher:
    path = LEXICON_DIR / "emoji.yaml"
    try:
        data = EmojiFile.model_validate(_load_yaml(path))
    except ValidationError as exc:
        raise LexiconError(f"{path}: {exc}") from exc
    table = {key.replace("\ufe0f", ""): value for key, value in data.emoji.items()}
    table.update(data.emoticons)
    emoji = [e for e in sorted(table, key=len, reverse=True) if e not in data.emoticons]
    emoji_alt = "|".join(re.escape(e) for e in emoji)
    emoticon_alt = "|".join(re.escape(e) for e in sorted(data.emoticons, key=len, reverse=True))
    pattern = f"(?:{emoji_alt})"
    emoticon_branch = rf"(?:(?<!\S)(?:{emoticon_alt})(?=\s|$|[.,!?]))" if emoticon_alt else "(?!)"
    if emoticon_alt:
        pattern += "|" + emoticon_branch
    starts = "".join(sorted({re.escape(e[0]) for e in emoji}))
    return _EmojiMatcher(
        re.compile(pattern),
        table,
        re.compile(f"[{starts}]" if starts else "(?!)"),
        re.compile(emoticon_branch),
    )


def emoji_valence(text: str) -> tuple[float, int]:
    """Return (summed valence, count) of the emoji and emoticons in `text`."""
    matcher = _emoji_matcher()
    text = text.replace("\ufe0f", "")
    # The emoji alternation is slow to try at every position. Where no emoji can start,
    # only the emoticon branch can match, and it matches the same as in the whole pattern.
    if matcher.emoji_start.search(text) is None:
        found = matcher.emoticons.findall(text)
    else:
        found = matcher.pattern.findall(text)
    table = matcher.table
    total, count = 0.0, 0
    for key in found:
        total += table[key]
        count += 1
    return total, count


def normalize(total: float) -> float:
    """Squash an unbounded valence sum into (-1, 1) the way VADER does."""
    return total / math.sqrt(total * total + NORMALIZE_ALPHA)


class Lexicon:
    """One language's compiled lexicon."""

    def __init__(self, spec: LexiconFile) -> None:
        self.language = spec.language
        self.accents = spec.fold_accents
        self.words: TokenTable[float] = TokenTable(spec.words, self.accents)
        self.negators = frozenset(w for n in spec.negators for w in tokenize(n, self.accents))
        self.boosters = {tokenize(k, self.accents)[0]: v for k, v in spec.boosters.items()}
        self.contrast = frozenset(w for c in spec.contrast for w in tokenize(c, self.accents))

    @classmethod
    def load(cls, language: str, directory: Path = LEXICON_DIR) -> Lexicon:
        """Load and validate `directory/<language>.yaml`."""
        path = directory / f"{language}.yaml"
        if not path.is_file():
            raise LexiconError(f"no sentiment lexicon for {language!r} at {path}")
        try:
            spec = LexiconFile.model_validate(_load_yaml(path))
        except ValidationError as exc:
            raise LexiconError(f"{path}: {exc}") from exc
        if spec.language != language:
            raise LexiconError(f"{path}: declares language {spec.language!r}")
        try:
            return cls(spec)
        except (ValueError, IndexError) as exc:
            raise LexiconError(f"{path}: {exc}") from exc

    def valence(self, text: str | TextTokens) -> tuple[float, int]:
        """Return (raw valence sum, number of polar hits) for `text` in this language."""
        doc = TextTokens.of(text)
        text = doc.text
        tokens = doc.tokens(self.accents)
        hits = self.words.scan(tokens)
        total = 0.0
        caps: set[str] = set()
        contrast_at = -1
        if hits:  # caps and contrast only change the value of a hit
            raw_words: list[str] = _RAW_WORD.findall(text)
            shouting = [w for w in compress(raw_words, map(str.isupper, raw_words)) if len(w) > 1]
            if 0 < len(shouting) < len(raw_words):  # mixed case: CAPS words stand out
                caps = {w.lower() for w in shouting}
            if not self.contrast.isdisjoint(tokens):
                contrast_at = max(
                    compress(range(len(tokens)), map(self.contrast.__contains__, tokens))
                )
        consumed: set[int] = set()
        for hit in hits:
            value = hit.value
            sign = 1.0 if value > 0 else -1.0
            for distance in (1, 2):
                j = hit.start - distance
                if j >= 0 and tokens[j] in self.boosters:
                    value += sign * self.boosters[tokens[j]] * (1.0 if distance == 1 else 0.95)
            if caps and any(tokens[k] in caps for k in range(hit.start, hit.end)):
                value += sign * CAPS_BOOST
            if self._negated(tokens, hit.start, consumed):
                value *= NEGATION_SCALAR
            consumed.update(range(hit.start, hit.end))
            if contrast_at >= 0:
                value *= CONTRAST_AFTER if hit.start > contrast_at else CONTRAST_BEFORE
            total += value
        emoji_total, emoji_count = emoji_valence(text)
        total += emoji_total
        count = len(hits) + emoji_count
        if total:
            bangs = min(text.count("!") + text.count("！"), MAX_EXCLAMATIONS)
            total += math.copysign(bangs * EXCLAMATION_BOOST, total)
        return total, count

    def _negated(self, tokens: list[str], start: int, consumed: set[int]) -> bool:
        """True when a negator precedes `start` in the same clause, not inside a phrase."""
        for j in range(start - 1, max(-1, start - 1 - NEGATION_WINDOW), -1):
            if tokens[j] in PUNCTUATION or j in consumed:
                return False
            if tokens[j] in self.negators:
                return True
        return False


def available_languages(directory: Path = LEXICON_DIR) -> tuple[str, ...]:
    """Languages that have a sentiment lexicon file."""
    return tuple(sorted(p.stem for p in directory.glob("??.yaml")))


class LexiconSentimentScorer:
    """Scores texts in the languages that have a lexicon; others are unsupported."""

    name = NAME

    def __init__(self, languages: Iterable[str] | None = None) -> None:
        wanted = tuple(languages) if languages is not None else available_languages()
        self._lexicons = {lang: Lexicon.load(lang) for lang in wanted}
        _emoji_matcher()

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages this scorer covers."""
        return tuple(self._lexicons)

    def supports(self, language: str) -> bool:
        """True when a lexicon for `language` was loaded."""
        return language in self._lexicons

    def score(
        self, texts: Sequence[str | TextTokens], language: str | None = None
    ) -> list[SentimentScore]:
        """Score texts; without `language`, each text's language is detected."""
        return [self.score_one(text, language) for text in texts]

    def score_one(self, text: str | TextTokens, language: str | None = None) -> SentimentScore:
        """Score one text in `language` (detected when not given)."""
        if language is None:
            from services.sentiment.core.language import detect_language

            language = detect_language(text_of(text))[0]
        lexicon = self._lexicons.get(language)
        if lexicon is None:
            raise LexiconError(f"language {language!r} is not supported by {self.name}")
        total, hits = lexicon.valence(text)
        value = round(normalize(total), 4)
        if hits == 0:
            # nothing polar found: neutral, with the low confidence absence of evidence earns
            return SentimentScore.model_construct(
                label="neutral", score=0.0, confidence=0.3, scorer=self.name
            )
        label: SentimentLabel
        if value >= POLAR_THRESHOLD:
            label = "positive"
        elif value <= -POLAR_THRESHOLD:
            label = "negative"
        else:
            label = "neutral"
        confidence = 0.5 + 0.5 * abs(value) if label != "neutral" else 0.6
        # in range by construction: skip validation, a noticeable share of the per-text cost
        return SentimentScore.model_construct(
            label=label, score=value, confidence=round(min(confidence, 1.0), 4), scorer=self.name
        )
