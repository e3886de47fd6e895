"""Crisis-topic tagger (defect, safety, recall, fraud...) compiled from the topic contract.

The topics, their display names, risk weights and terms per language are the shared
contract `shared/contracts/topics.yaml` (`shared.contracts.topics`). Matching is one table
per language built at load time: whole tokens (with phrases and ``stem*`` prefixes) for
space-separated languages, Aho-Corasick substrings for Chinese and Japanese. English terms
are also tried on every text, since brand complaints mix English into other languages
("refund", "scam") more than the other way round. A term inside an idiom of `idioms.yaml`
("died laughing", "mort de rire", "auf einen Rückruf warten") is not a topic mention.
"""

from __future__ import annotations

from pathlib import Path

from services.sentiment.core.idioms import IdiomMask, Spans
from services.sentiment.core.textmatch import (
    SubstringTable,
    TextTokens,
    TokenTable,
    build_table,
    merge_terms,
)
from shared.contracts.topics import (
    TopicContract,
    TopicContractError,
    load_topics,
    topic_contract,
)
from shared.text import UNSEGMENTED, has_cjk

# Language tags of texts whose language was not detected.
UNDETERMINED = frozenset({"und", ""})

FALLBACK_LANGUAGE = "en"


class TopicLexicon:
    """Compiled topic lexicon: `match` texts, look up names and risk weights."""

    def __init__(self, spec: TopicContract, idioms: IdiomMask | None = None) -> None:
        self._spec = spec
        self._idioms = idioms
        languages = sorted({lang for topic in spec.topics.values() for lang in topic.terms})
        self._tables: dict[str, TokenTable[list[str]] | SubstringTable[list[str]]] = {}
        for language in languages:
            groups = [
                (topic_id, topic.terms.get(language, [])) for topic_id, topic in spec.topics.items()
            ]
            try:
                self._tables[language] = build_table(merge_terms(groups), language)
            except ValueError as exc:
                raise TopicContractError(f"{language} terms: {exc}") from exc
        self._order = {topic_id: i for i, topic_id in enumerate(spec.topics)}
        self._chosen: dict[str, list[str]] = {}  # language -> tables to try, worked out once

    @classmethod
    def load(
        cls, path: Path | str | None = None, *, idioms: Path | str | None = None
    ) -> TopicLexicon:
        """Compile a topic contract file and an idiom list (the packaged ones by default)."""
        spec = topic_contract() if path is None else load_topics(path)
        return cls(spec, IdiomMask.load(idioms))

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
        """Risk weight of `topic` (KeyError for an unknown topic)."""
        return self._spec.risk_weight(topic)

    def laughs(self, text: str | TextTokens) -> bool:
        """True when the text carries a laughter marker of the idiom list."""
        return self._idioms is not None and self._idioms.laughs(TextTokens.of(text))

    def after_contrast(self, text: str | TextTokens, language: str) -> list[str]:
        """The topics named after the text's first contrast ("love it, but it caught fire")."""
        if self._idioms is None:
            return []
        rest = self._idioms.after_contrast(TextTokens.of(text), language)
        return self.match(rest, language) if rest else []

    def is_critical(self, topic: str) -> bool:
        """True for a crisis topic (one the alerting engine watches)."""
        spec = self._spec.topics.get(topic)
        return spec is not None and spec.critical

    def match(self, text: str | TextTokens, language: str) -> list[str]:
        """Return the topics mentioned in `text`, in file order, each once."""
        doc = TextTokens.of(text)
        if not doc.text:
            return []
        if language in UNDETERMINED and has_cjk(doc.text):
            # Too short to detect, but Han or kana script: the Chinese and Japanese terms
            # apply (besides English), not the English terms alone.
            language = "zh"
        chosen = self._chosen.get(language)
        if chosen is None:
            chosen = self._languages_for(language)
            if len(self._chosen) < 1_024:  # language tags come from detection and hints
                self._chosen[language] = chosen
        found: set[str] = set()
        masked: Spans | None = None  # idiom spans, worked out at the first hit
        for lang in chosen:
            table = self._tables[lang]
            chars = isinstance(table, SubstringTable)
            if isinstance(table, SubstringTable):
                hits = table.scan(doc.text)
            else:
                hits = table.scan(doc.tokens(table.accents))
            for hit in hits:
                if self._idioms is None:
                    found.update(hit.value)
                    continue
                masked = masked or self._idioms.of(doc)
                if not masked.covers(hit, chars=chars):
                    hidden = masked.hidden(hit, chars=chars)
                    found.update(t for t in hit.value if t not in hidden)
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
