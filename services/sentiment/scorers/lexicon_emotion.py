"""Lexicon-based emotion scores for non-English text (anger and fear matter most: crisis).

Each `lexicons/emotion_<lang>.yaml` lists words per emotion (phrases and ``stem*``
prefixes allowed; Chinese terms are matched as substrings). Negated words are skipped,
emoji count in every language (`emotion_emoji.yaml`). Scores form a distribution over
`shared.schemas.EMOTIONS`: each emotion's hits over the hits plus a neutral prior.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.sentiment.core.textmatch import (
    SubstringTable,
    TextTokens,
    TokenTable,
    merge_terms,
    text_of,
)
from shared.errors import ConfigError
from shared.schemas import EMOTIONS
from shared.text import PUNCTUATION, UNSEGMENTED, tokenize

LEXICON_DIR = Path(__file__).with_name("lexicons")
NAME = "lexicon-emotion-v1"
FEELINGS: tuple[str, ...] = tuple(e for e in EMOTIONS if e != "neutral")
NEUTRAL_PRIOR = 0.5  # one clear hit outweighs "neutral" (0.67 vs 0.33); none leaves neutral 1.0
NEGATION_WINDOW = 3
# Chinese negation right before a word: 不生气 is not anger.
_ZH_NEGATORS = ("没有", "并不", "不是", "不", "没", "别", "未", "无")


class EmotionLexiconError(ConfigError):
    """An emotion lexicon file is missing or malformed."""


class EmotionFile(BaseModel):
    """Schema of `lexicons/emotion_<lang>.yaml` (and `emotion_emoji.yaml`)."""

    model_config = ConfigDict(extra="forbid")

    language: str = Field(pattern=r"^([a-z]{2}|emoji)$")
    fold_accents: bool = True
    negators: list[str] = Field(default_factory=list)
    anger: list[str] = Field(default_factory=list)
    fear: list[str] = Field(default_factory=list)
    sadness: list[str] = Field(default_factory=list)
    joy: list[str] = Field(default_factory=list)
    surprise: list[str] = Field(default_factory=list)
    disgust: list[str] = Field(default_factory=list)

    def groups(self) -> list[tuple[str, list[str]]]:
        """(emotion, terms) pairs in `FEELINGS` order."""
        return [(emotion, getattr(self, emotion)) for emotion in FEELINGS]


def _load(path: Path) -> EmotionFile:
    if not path.is_file():
        raise EmotionLexiconError(f"no emotion lexicon at {path}")
    try:
        return EmotionFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise EmotionLexiconError(f"{path}: {exc}") from exc


@functools.cache
def _emoji_table(directory: Path) -> SubstringTable[list[str]]:
    spec = _load(directory / "emotion_emoji.yaml")
    return SubstringTable(merge_terms(spec.groups()), folded=False)  # NFKC: "‼" is not "!!"


class EmotionLexicon:
    """One language's compiled emotion lexicon."""

    def __init__(self, spec: EmotionFile) -> None:
        self.language = spec.language
        terms = merge_terms(spec.groups())
        self.unsegmented = spec.language in UNSEGMENTED
        self._substrings: SubstringTable[list[str]] = SubstringTable(
            terms if self.unsegmented else {}
        )
        self._tokens: TokenTable[list[str]] = TokenTable(
            {} if self.unsegmented else terms, spec.fold_accents
        )
        self.accents = spec.fold_accents
        self.negators = frozenset(w for n in spec.negators for w in tokenize(n, self.accents))

    def counts(self, text: str | TextTokens) -> dict[str, float]:
        """Return the number of non-negated hits per emotion in `text`."""
        found = dict.fromkeys(FEELINGS, 0.0)
        if self.unsegmented:
            text = self._substrings.prepare(text_of(text))
            for hit in self._substrings.scan(text, prepared=True):
                before = text[max(0, hit.start - 2) : hit.start]
                if not before.endswith(_ZH_NEGATORS):
                    for emotion in hit.value:
                        found[emotion] += 1.0
        else:
            tokens = TextTokens.of(text).tokens(self.accents)
            for hit in self._tokens.scan(tokens):
                if not self._negated(tokens, hit.start):
                    for emotion in hit.value:
                        found[emotion] += 1.0
        return found

    def _negated(self, tokens: list[str], start: int) -> bool:
        for j in range(start - 1, max(-1, start - 1 - NEGATION_WINDOW), -1):
            if tokens[j] in PUNCTUATION:
                return False
            if tokens[j] in self.negators:
                return True
        return False


def available_languages(directory: Path = LEXICON_DIR) -> tuple[str, ...]:
    """Languages that have an emotion lexicon file."""
    return tuple(sorted(p.stem.removeprefix("emotion_") for p in directory.glob("emotion_??.yaml")))


def distribution(counts: dict[str, float]) -> dict[str, float]:
    """Turn per-emotion hit counts into scores over `EMOTIONS` that sum to 1."""
    total = sum(counts.values()) + NEUTRAL_PRIOR
    scores = {emotion: round(counts.get(emotion, 0.0) / total, 4) for emotion in FEELINGS}
    scores["neutral"] = round(NEUTRAL_PRIOR / total, 4)
    return {emotion: scores[emotion] for emotion in EMOTIONS}


# Hit counts are small whole numbers and most texts have none or one: a few hundred
# distinct count vectors cover nearly every text, so their distributions are remembered.
_DISTRIBUTIONS: dict[tuple[float, ...], dict[str, float]] = {}
_DISTRIBUTIONS_LIMIT = 4_096


def _distribution_of(counts: dict[str, float]) -> dict[str, float]:
    """`distribution(counts)` for counts keyed by `FEELINGS` in order (a fresh dict)."""
    key = tuple(counts.values())
    found = _DISTRIBUTIONS.get(key)
    if found is None:
        found = distribution(counts)
        if len(_DISTRIBUTIONS) >= _DISTRIBUTIONS_LIMIT:
            _DISTRIBUTIONS.clear()
        _DISTRIBUTIONS[key] = found
    return dict(found)


class LexiconEmotionScorer:
    """Scores emotions for the languages that have an emotion lexicon."""

    name = NAME

    def __init__(
        self, languages: Iterable[str] | None = None, directory: Path = LEXICON_DIR
    ) -> None:
        wanted = tuple(languages) if languages is not None else available_languages(directory)
        self._lexicons: dict[str, EmotionLexicon] = {}
        for language in wanted:
            spec = _load(directory / f"emotion_{language}.yaml")
            if spec.language != language:
                raise EmotionLexiconError(f"emotion_{language}.yaml declares {spec.language!r}")
            try:
                self._lexicons[language] = EmotionLexicon(spec)
            except ValueError as exc:
                raise EmotionLexiconError(f"emotion_{language}.yaml: {exc}") from exc
        self._emoji = _emoji_table(directory)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages this scorer covers."""
        return tuple(self._lexicons)

    def supports(self, language: str) -> bool:
        """True when an emotion lexicon for `language` was loaded."""
        return language in self._lexicons

    def score(
        self, texts: Sequence[str | TextTokens], language: str | None = None
    ) -> list[dict[str, float]]:
        """Score texts; without `language`, each text's language is detected."""
        return [self.score_one(text, language) for text in texts]

    def score_one(self, text: str | TextTokens, language: str | None = None) -> dict[str, float]:
        """Return a score in [0, 1] for each of `EMOTIONS` (they sum to 1)."""
        counts = self._lexicon_for(text, language).counts(text)
        for hit in self._emoji.scan(text_of(text).replace("\ufe0f", "")):
            for emotion in hit.value:
                counts[emotion] += 1.0
        return _distribution_of(counts)

    def _lexicon_for(self, text: str | TextTokens, language: str | None) -> EmotionLexicon:
        if language is None:
            from services.sentiment.core.language import detect_language

            language = detect_language(text_of(text))[0]
        lexicon = self._lexicons.get(language)
        if lexicon is None:
            raise EmotionLexiconError(f"language {language!r} is not supported by {self.name}")
        return lexicon
