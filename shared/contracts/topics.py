"""The crisis-topic contract: every topic's terms, category, criticality and risk weight.

`topics.yaml` beside this module is the one place the topic vocabulary is spelled. The
sentiment stage compiles its terms into the topic tagger; the alerting stage reads which
topics are crises (the series the engine watches), their risk weights (severity) and their
categories (incidents and playbooks). `topic_contract()` loads the packaged file once.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts.yaml_files import read_yaml_model
from shared.errors import ConfigError

DEFAULT_PATH = Path(__file__).with_name("topics.yaml")
GENERIC_CATEGORY = "generic"  # the category of a story without a topic
MAX_RISK_WEIGHT = 3.0


class TopicContractError(ConfigError):
    """The topic contract file is missing or invalid."""


def _is_snake_id(value: str) -> bool:
    return value.replace("_", "").isalnum() and value.islower() and value.isascii()


class TopicSpec(BaseModel):
    """One topic as written in the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    category: str = Field(min_length=1, max_length=64)
    critical: bool
    risk_weight: float = Field(ge=0.0, le=MAX_RISK_WEIGHT)
    terms: dict[str, list[str]] = Field(min_length=1)

    @field_validator("category")
    @classmethod
    def _check_category(cls, value: str) -> str:
        if not _is_snake_id(value):
            raise ValueError(f"category {value!r} must be lower_snake_case")
        if value == GENERIC_CATEGORY:
            raise ValueError(f"category {GENERIC_CATEGORY!r} is reserved for topic-less stories")
        return value

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


class TopicContract(BaseModel):
    """The whole file: topics in file order, with lookups the stages share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    topics: dict[str, TopicSpec] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _check_ids(cls, value: dict[str, TopicSpec]) -> dict[str, TopicSpec]:
        for topic_id in value:
            if not _is_snake_id(topic_id):
                raise ValueError(f"topic id {topic_id!r} must be lower_snake_case")
        return value

    @property
    def topic_ids(self) -> tuple[str, ...]:
        """Topic ids in file order."""
        return tuple(self.topics)

    @property
    def crisis_topics(self) -> tuple[str, ...]:
        """The critical topics in file order: the series the detection engine watches."""
        return tuple(t for t, spec in self.topics.items() if spec.critical)

    @property
    def categories(self) -> tuple[str, ...]:
        """Every topic category, once each, in file order (`generic` is not one of them)."""
        return tuple(dict.fromkeys(spec.category for spec in self.topics.values()))

    @property
    def critical_categories(self) -> tuple[str, ...]:
        """The categories of the critical topics: each needs its own playbook."""
        return tuple(dict.fromkeys(self.topics[t].category for t in self.crisis_topics))

    def category_of(self, topic: str) -> str:
        """Return the incident category of a story topic (`generic` without a known topic)."""
        spec = self.topics.get(topic)
        return spec.category if spec is not None else GENERIC_CATEGORY

    def risk_weight(self, topic: str, default: float | None = None) -> float:
        """Return the risk weight of `topic`; `default` (or KeyError) for an unknown topic."""
        spec = self.topics.get(topic)
        if spec is not None:
            return spec.risk_weight
        if default is None:
            raise KeyError(topic)
        return default


def load_topics(path: Path | str | None = None) -> TopicContract:
    """Load and validate a topic contract file (the packaged `topics.yaml` by default)."""
    source = Path(path) if path is not None else DEFAULT_PATH
    return read_yaml_model(source, TopicContract, TopicContractError, "topic lexicon")


@functools.cache
def topic_contract() -> TopicContract:
    """The packaged topic contract, loaded and validated once per process."""
    return load_topics(DEFAULT_PATH)
