"""Crisis topics (defect, safety, recall, fraud...) matched from an editable YAML lexicon.

`topics.yaml` beside this module lists, per topic, a display name, a risk weight and terms
per language. Matching is one table per language built at load time: whole tokens (with
phrases and ``stem*`` prefixes) for space-separated languages, Aho-Corasick substrings for
Chinese and Japanese. English terms are also tried on every text, since brand complaints
mix English into other languages ("refund", "scam") more than the other way round.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.sentiment.core.textmatch import (
    UNSEGMENTED,
    SubstringTable,
    TextTokens,
    TokenTable,
    build_table,
    merge_terms,
)
from shared.errors import ConfigError

DEFAULT_PATH = Path(__file__).with_name("topics.yaml")
FALLBACK_LANGUAGE = "en"


class TopicLexiconError(ConfigError):
    """The topic lexicon file is missing or invalid."""


class TopicSpec(BaseModel):
    """One topic as written in the YAML file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    risk_weight: float = Field(ge=0.0, le=1.0)
    terms: dict[str, list[str]] = Field(min_length=1)

    @field_validator("terms")
    @classmethod
    def _check_terms(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for language, terms in value.items():
            if len(language) != 2 or not language.isalpha() or not language.islower():
                raise ValueError(f"language {language!r} is not an ISO 639-1 code")
            cleaned = [str(term).strip() for term in terms]
            if not cleaned or any(not term or term == "*" for term in cleaned):
                raise ValueError(f"{language}: empty term list or empty term")
            value[language] = cleaned
        return value


class TopicFile(BaseModel):
    """The whole YAML file."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    topics: dict[str, TopicSpec] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _check_ids(cls, value: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
        for topic_id in value:
            if not topic_id.replace("_", "").isalnum() or not topic_id.islower():
                raise ValueError(f"topic id {topic_id!r} must be lower_snake_case")
        return value


class TopicLexicon:
    """Compiled topic lexicon: `match` texts, look up names and risk weights."""

    def __init__(self, spec: TopicFile) -> None:
        self._spec = spec
        languages = sorted({lang for topic in spec.topics.values() for lang in topic.terms})
        self._tables: dict[str, TokenTable[list[str]] | SubstringTable[list[str]]] = {}
        for language in languages:
            groups = [
                (topic_id, topic.terms.get(language, [])) for topic_id, topic in spec.topics.items()
            ]
            try:
                self._tables[language] = build_table(merge_terms(groups), language)
            except ValueError as exc:
                raise TopicLexiconError(f"{language} terms: {exc}") from exc
        self._order = {topic_id: i for i, topic_id in enumerate(spec.topics)}
        self._chosen: dict[str, list[str]] = {}  # language -> tables to try, worked out once

    @classmethod
    def load(cls, path: Path | str | None = None) -> TopicLexicon:
        """Load and validate the YAML lexicon (the packaged `topics.yaml` by default)."""
        source = Path(path) if path is not None else DEFAULT_PATH
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TopicLexiconError(f"cannot read topic lexicon {source}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise TopicLexiconError(f"{source} is not valid YAML: {exc}") from exc
        try:
            spec = TopicFile.model_validate(raw)
        except ValidationError as exc:
            raise TopicLexiconError(f"{source} is not a valid topic lexicon:\n{exc}") from exc
        return cls(spec)

    @property
    def topics(self) -> tuple[str, ...]:
        """Topic ids in file order."""
        return tuple(self._spec.topics)

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages that have terms for at least one topic."""
        return tuple(self._tables)

    def name(self, topic: str) -> str:
        """Display name of `topic`."""
        return self._spec.topics[topic].name

    def risk_weight(self, topic: str) -> float:
        """Risk weight in [0, 1] of `topic` (KeyError for an unknown topic)."""
        return self._spec.topics[topic].risk_weight

    def match(self, text: str | TextTokens, language: str) -> list[str]:
        """Return the topics mentioned in `text`, in file order, each once."""
        doc = TextTokens.of(text)
        if not doc.text:
            return []
        chosen = self._chosen.get(language)
        if chosen is None:
            chosen = self._languages_for(language)
            if len(self._chosen) < 1_024:  # language tags come from detection and hints
                self._chosen[language] = chosen
        found: set[str] = set()
        for lang in chosen:
            table = self._tables[lang]
            if isinstance(table, SubstringTable):
                hits = table.scan(doc.text)
            else:
                hits = table.scan(doc.tokens(table.accents))
            for hit in hits:
                found.update(hit.value)
        if not found:
            return []
        return sorted(found, key=self._order.__getitem__)

    def _languages_for(self, language: str) -> list[str]:
        primary = language.lower().split("-", 1)[0] if language else ""
        chosen = [primary] if primary in self._tables else []
        # Chinese and Japanese share Han terms (召回, 故障): try both on either.
        if primary in UNSEGMENTED:
            chosen += [lang for lang in ("zh", "ja") if lang in self._tables and lang != primary]
        if FALLBACK_LANGUAGE in self._tables and FALLBACK_LANGUAGE not in chosen:
            chosen.append(FALLBACK_LANGUAGE)
        return chosen
