"""Every packaged playbook loads; broken files fail with the file and field named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.alerting.playbooks import load_playbook, load_playbooks, playbook_for
from services.alerting.playbooks.loader import DEFINITIONS_DIR
from shared.contracts.topics import topic_contract
from shared.errors import ConfigError

EXPECTED = {
    "product_quality",
    "safety",
    "recall",
    "delivery",
    "customer_service",
    "pricing_fraud",
    "data_privacy",
    "legal",
    "offensive_boycott",
    "generic",
}


@pytest.mark.parametrize("path", sorted(DEFINITIONS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_playbook_loads(path: Path) -> None:
    book = load_playbook(path)
    assert book.steps[0].due_after <= timedelta(hours=1)
    assert any(s.due_after <= timedelta(hours=24) for s in book.steps[1:])
    for lang in ("en", "zh", "es"):
        assert "Acme" in book.holding_statement(lang, brand="Acme")


def test_all_categories_have_a_playbook() -> None:
    assert set(load_playbooks()) == EXPECTED
    for category in topic_contract().categories:
        assert playbook_for(category).category == category
    assert playbook_for(" Data_Privacy ").name == "data_privacy"
    assert playbook_for("something-new").name == "generic"
    assert playbook_for("").name == "generic"


def test_unknown_language_falls_back_to_english() -> None:
    book = playbook_for("legal")
    assert book.holding_statement("xx", brand="Acme") == book.holding_statement("en", brand="Acme")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: bad\ntitle: T\ncategory: generic\nsteps: []\nholding_statements: {}\n", "steps"),
        (
            "name: bad\ntitle: Bad\ncategory: generic\n"
            "steps:\n  - {title: Post, owner_role: comms, due_after: soon}\n"
            "holding_statements: {en: a, zh: b, es: c}\n",
            "steps.0.due_after",
        ),
        (
            "name: bad\ntitle: Bad\ncategory: generic\n"
            "steps:\n  - {title: Post, owner_role: comms, due_after: 2h}\n"
            "holding_statements: {en: a, zh: b, es: c}\n",
            "within 1h",
        ),
        (
            "name: bad\ntitle: Bad\ncategory: generic\n"
            "steps:\n  - {title: Post, owner_role: comms, due_after: 1h}\n"
            "holding_statements: {en: '{ceo}', zh: b, es: c}\n",
            "ceo",
        ),
        (
            "name: bad\ntitle: Bad\ncategory: generic\n"
            "steps:\n  - {title: Post, owner_role: comms, due_after: 1h}\n"
            "holding_statements: {en: a}\n",
            "missing languages",
        ),
        (
            "name: other\ntitle: Bad\ncategory: generic\n"
            "steps:\n  - {title: Post, owner_role: comms, due_after: 1h}\n"
            "holding_statements: {en: a, zh: b, es: c}\n",
            "match the file name",
        ),
        ("- not a mapping\n", "mapping"),
        ("name: [unclosed\n", "YAML"),
    ],
)
def test_broken_playbooks_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml") as caught:
        load_playbook(path)
    assert message in str(caught.value)


def _write_book(directory: Path, name: str, category: str) -> None:
    (directory / f"{name}.yaml").write_text(
        f"name: {name}\ntitle: Title\ncategory: {category}\n"
        "steps:\n  - {title: Post, owner_role: comms, due_after: 30m}\n"
        "holding_statements: {en: a, zh: b, es: c}\n",
        encoding="utf-8",
    )


def test_overlapping_categories_are_rejected(tmp_path: Path) -> None:
    for name, category in (("generic", "generic"), ("a", "recall"), ("b", "recall")):
        _write_book(tmp_path, name, category)
    with pytest.raises(ConfigError, match="'recall' is claimed by both 'a' and 'b'"):
        load_playbooks(tmp_path)


def test_a_category_no_topic_has_is_rejected(tmp_path: Path) -> None:
    _write_book(tmp_path, "generic", "generic")
    _write_book(tmp_path, "security", "security")
    with pytest.raises(ConfigError, match="'security' is not a category of the topic contract"):
        load_playbooks(tmp_path)


def test_the_generic_playbook_is_required(tmp_path: Path) -> None:
    _write_book(tmp_path, "recall", "recall")
    with pytest.raises(ConfigError, match="'generic' playbook is required"):
        load_playbooks(tmp_path)
