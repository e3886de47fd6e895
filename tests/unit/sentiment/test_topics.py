"""Crisis topic lexicon: loading, validation errors, matching per language."""

from pathlib import Path

import pytest

from services.sentiment.core.topics import TopicLexicon
from shared.contracts.topics import TopicContractError

REQUIRED = {
    "product_quality", "safety", "recall", "delivery", "customer_service",
    "pricing_fraud", "data_privacy", "legal", "offensive_boycott",
}  # fmt: skip


@pytest.fixture(scope="module")
def lexicon() -> TopicLexicon:
    return TopicLexicon.load()


def test_packaged_lexicon_has_every_topic_and_language(lexicon: TopicLexicon) -> None:
    assert set(lexicon.topics) >= REQUIRED
    assert {"en", "zh", "es", "pt", "fr", "de"} <= set(lexicon.languages)
    assert lexicon.name("safety")


def test_risk_weights(lexicon: TopicLexicon) -> None:
    top = max(lexicon.risk_weight(t) for t in lexicon.topics)
    assert lexicon.risk_weight("safety") == top
    assert lexicon.risk_weight("legal") == top
    assert lexicon.risk_weight("delivery") == min(lexicon.risk_weight(t) for t in lexicon.topics)
    with pytest.raises(KeyError):
        lexicon.risk_weight("weather")


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "My charger exploded and burned my hand, is there a recall?", {"safety", "recall"}),
        ("en", "Company issued a RECALL for all 2021 strollers", {"recall"}),
        ("en", "They were recalling the units", {"recall"}),
        ("en", "battery draining in an hour", {"product_quality"}),
        (
            "es",
            "El paquete nunca llegó y nadie responde. ¡Estafa!",
            {"delivery", "customer_service", "pricing_fraud"},
        ),
        ("pt", "Vazamento de dados dos clientes, vou processar", {"data_privacy", "legal"}),
        ("fr", "Colis jamais reçu, je vais porter plainte", {"delivery", "legal"}),
        ("de", "Rückruf: Kinderwagen mit Verletzungsgefahr", {"recall", "safety"}),
        ("zh", "这款充电宝起火了，要求召回！客服不理人", {"safety", "recall", "customer_service"}),
        ("zh", "辱华广告，抵制", {"offensive_boycott"}),
        ("es", "La empresa retirada del mercado por la alerta sanitaria", {"recall"}),
    ],
)
def test_match(lexicon: TopicLexicon, language: str, text: str, expected: set[str]) -> None:
    assert set(lexicon.match(text, language)) == expected


@pytest.mark.parametrize("language", ["und", ""])
def test_short_chinese_without_a_detected_language_uses_the_chinese_terms(
    lexicon: TopicLexicon, language: str
) -> None:
    assert lexicon.match("充电宝起火", language) == ["safety"]
    assert lexicon.match("要求召回", language) == ["recall"]
    assert lexicon.match("起火 recall", language) == ["safety", "recall"], "English applies too"


def test_word_boundaries(lexicon: TopicLexicon) -> None:
    assert lexicon.match("I love this, fire emoji", "en") == []
    assert lexicon.match("unrecalled", "en") == []
    assert lexicon.match("Wait a sec, great product", "en") == []


def test_english_terms_apply_to_other_languages(lexicon: TopicLexicon) -> None:
    assert "pricing_fraud" in lexicon.match("Quiero mi refund ya", "es")
    assert lexicon.match("", "es") == []
    assert lexicon.match("refund", "xx") == ["pricing_fraud"]


def test_results_in_file_order_without_duplicates(lexicon: TopicLexicon) -> None:
    found = lexicon.match("recall recall explosion recall lawsuit", "en")
    assert found == ["safety", "recall", "legal"]


# A topic `x` up to its risk weight; each case below breaks one thing after it.
HEAD = "version: 1\ntopics:\n  x:\n    name: X\n    category: x\n    critical: true\n"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_custom_file_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "version: 1\ntopics:\n  outage:\n    name: Outage\n"
        "    category: outage\n    critical: false\n    risk_weight: 0.3\n"
        "    terms:\n      en: [outage*, down again]\n",
    )
    lexicon = TopicLexicon.load(path)
    assert lexicon.match("Outages everywhere, app down again", "en") == ["outage"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            f"{HEAD}    risk_weight: 4\n    terms: {{en: [a]}}\n",
            "risk_weight",
        ),
        (
            f"{HEAD}    risk_weight: 0.5\n    terms: {{eng: [a]}}\n",
            "ISO 639-1",
        ),
        (
            f"{HEAD}    risk_weight: 0.5\n    terms: {{en: []}}\n",
            "empty",
        ),
        (
            "version: 1\ntopics:\n  Bad-Id:\n    name: X\n    category: x\n    critical: true\n"
            "    risk_weight: 0.5\n"
            "    terms: {en: [a]}\n",
            "lower_snake_case",
        ),
        ("version: 1\ntopics: [\n", "not valid YAML"),
        (
            f"{HEAD}    risk_weight: 0.5\n    terms: {{en: [a*b]}}\n",
            "only allowed at the end",
        ),
    ],
)
def test_invalid_files_give_clear_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(TopicContractError, match=message):
        TopicLexicon.load(_write(tmp_path, body))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopicContractError, match="cannot read"):
        TopicLexicon.load(tmp_path / "absent.yaml")
