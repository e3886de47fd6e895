"""Which holding statements an incident quotes: the brand's first language, then its own."""

from __future__ import annotations

from services.alerting.playbooks.loader import default_playbooks
from services.alerting.playbooks.statements import holding_statements, main_languages

SAFETY = default_playbooks()["safety"]  # en zh es fr de ja
LEGAL = default_playbooks()["legal"]  # en zh es


def test_brand_first_language_then_the_incidents_dominant_ones() -> None:
    assert main_languages(SAFETY, brand_languages=["ja", "en"], mention_languages={}) == ["ja"]
    counts = {"de": 60, "en": 30, "it": 10}
    assert main_languages(SAFETY, brand_languages=["ja"], mention_languages=counts) == ["ja", "de"]
    # 30% is enough; at most two are quoted.
    assert main_languages(SAFETY, brand_languages=[], mention_languages=counts) == ["de", "en"]
    assert main_languages(SAFETY, brand_languages=["de"], mention_languages=counts) == ["de", "en"]


def test_languages_the_playbook_lacks_fall_back_to_english() -> None:
    assert main_languages(LEGAL, brand_languages=["de"], mention_languages={"it": 5}) == ["en"]
    assert main_languages(LEGAL, brand_languages=["de"], mention_languages={"es": 5}) == ["es"]


def test_statements_are_rendered_for_the_brand_main_first() -> None:
    out = holding_statements(SAFETY, brand="Kettle Co", main=["de", "en"])
    assert [(s.language, s.main) for s in out][:3] == [("de", True), ("en", True), ("es", False)]
    assert {s.language for s in out} == set(SAFETY.holding_statements)
    assert all("Kettle Co" in s.text and "{brand}" not in s.text for s in out)
