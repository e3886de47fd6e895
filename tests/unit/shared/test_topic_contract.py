"""One topic vocabulary: the tagger, the engine, severity and the playbooks read the contract."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from services.alerting.detect.engine import EngineConfig
from services.alerting.detect.keywords import KeywordConfig
from services.alerting.detect.signals import category_of
from services.alerting.incidents import severity
from services.alerting.playbooks.loader import default_playbooks, playbook_for
from services.sentiment.core.topics import TopicLexicon
from shared.contracts.topics import (
    GENERIC_CATEGORY,
    TopicContractError,
    load_topics,
    topic_contract,
)

CONTRACT = topic_contract()


def test_the_packaged_contract_loads_once() -> None:
    assert topic_contract() is CONTRACT
    assert CONTRACT.crisis_topics and set(CONTRACT.crisis_topics) <= set(CONTRACT.topic_ids)
    assert GENERIC_CATEGORY not in CONTRACT.categories


def test_no_playbook_names_a_category_no_topic_has() -> None:
    known = {*CONTRACT.categories, GENERIC_CATEGORY}
    for book in default_playbooks().values():
        assert book.category in known, f"playbook {book.name}: unknown category {book.category}"


def test_every_critical_topic_has_its_own_playbook() -> None:
    for topic in CONTRACT.crisis_topics:
        category = CONTRACT.category_of(topic)
        assert playbook_for(category).category == category, f"{topic}: no {category} playbook"


def test_severity_weights_only_topics_that_exist() -> None:
    # Severity keeps no topic table of its own: every topic-keyed mapping it holds names
    # contract topics only, and the weights it applies are the contract's.
    tables = {
        name: value
        for name, value in vars(severity).items()
        if isinstance(value, Mapping)
        and not name.startswith("__")
        and all(isinstance(w, int | float) for w in value.values())
    }
    for name, value in tables.items():
        if value:
            unknown = set(value) - set(CONTRACT.topic_ids)
            assert not unknown, f"severity.{name} weights topics no one produces: {unknown}"
    for topic, spec in CONTRACT.topics.items():
        assert severity.topic_risk(topic) == spec.risk_weight
    assert severity.topic_risk("no_such_topic") == severity.DEFAULT_TOPIC_RISK


def test_the_engine_watches_the_critical_topics() -> None:
    assert EngineConfig().topics == CONTRACT.crisis_topics
    assert KeywordConfig().topics <= set(CONTRACT.crisis_topics)


def test_the_tagger_tags_the_contract_topics() -> None:
    assert TopicLexicon.load().topics == CONTRACT.topic_ids


def test_incident_categories_come_from_the_contract() -> None:
    for topic, spec in CONTRACT.topics.items():
        assert category_of(topic) == spec.category
    assert category_of("") == GENERIC_CATEGORY
    assert category_of("no_such_topic") == GENERIC_CATEGORY


def _topic(tmp_path: Path, fields: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(
        f"version: 1\ntopics:\n  x:\n    name: X\n{fields}    terms: {{en: [a]}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("    category: generic\n    critical: true\n    risk_weight: 1\n", "reserved"),
        ("    category: Bad-Cat\n    critical: true\n    risk_weight: 1\n", "lower_snake_case"),
        ("    category: x\n    risk_weight: 1\n", "critical"),
        ("    critical: true\n    risk_weight: 1\n", "category"),
        ("    category: x\n    critical: true\n    risk_weight: -1\n", "risk_weight"),
    ],
)
def test_invalid_topics_are_refused(tmp_path: Path, fields: str, message: str) -> None:
    with pytest.raises(TopicContractError, match=message) as caught:
        load_topics(_topic(tmp_path, fields))
    assert "is not a valid topic lexicon" in str(caught.value)


def test_lookups(tmp_path: Path) -> None:
    contract = load_topics(
        _topic(tmp_path, "    category: y\n    critical: false\n    risk_weight: 2\n")
    )
    assert contract.crisis_topics == () and contract.categories == ("y",)
    assert contract.category_of("x") == "y" and contract.risk_weight("x") == 2.0
    assert contract.risk_weight("z", default=1.0) == 1.0
    with pytest.raises(KeyError):
        contract.risk_weight("z")
