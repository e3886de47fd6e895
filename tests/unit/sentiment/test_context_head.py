"""The context head: the shipped file, its checks, and what it changes in enrichment."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from services.sentiment.core.context import HeadCut, judge_by_context
from services.sentiment.core.enrich import Enricher
from services.sentiment.scorers.context_head import LABELS, ContextHead
from services.sentiment.scorers.heads import Head, HeadFileError, Member
from services.sentiment.scorers.model_tier import context_head_path
from shared.schemas import Mention
from shared.settings.sentiment import SentimentSettings

# Near misses the tone gate passes (the model tier reads them negative) and the head clears.
HARMLESS = [
    "Esse atacante do Acme FC é um perigo, toda bola que chega nele é meio gol.",
    "Krimiserie auf Acme+: der Gärtner hat den Baron vergiftet, ich hab's geahnt 😏",
    "Acme vince la causa contro i falsari, il tribunale le dà ragione",
]
REPORTS = [
    "My Acme charger exploded last night and burned my hand",
    "Meu carregador Acme pegou fogo na tomada, quase queimou a casa",
    "Acme me cobró dos veces y el soporte no responde, es una estafa",
]


def _toy_head(labels: tuple[str, ...] = LABELS, meta: dict[str, object] | None = None) -> Head:
    w = np.array([[0.0, 1.0], [0.0, -1.0]], dtype=np.float32)
    member = Member(((w, np.zeros(2, dtype=np.float32)),), 1.0)
    return Head(labels, "toy", 2, (member,), np.zeros(2, dtype=np.float32), meta or {})


def _topics(enricher: Enricher, texts: list[str]) -> list[list[str]]:
    now = datetime.now(UTC)
    mentions = [
        Mention(platform="x", external_id=f"h{i}", author_id="a", text=t, created_at=now,
                brands=["acme"])
        for i, t in enumerate(texts)
    ]  # fmt: skip
    return [s.topics for s in enricher.enrich_batch(mentions)]


@pytest.fixture(scope="module")
def with_head() -> Enricher:
    return Enricher.from_settings(SentimentSettings())


@pytest.fixture(scope="module")
def without_head() -> Enricher:
    return Enricher.from_settings(SentimentSettings(sentiment_context_head=False))


def test_the_shipped_head_fits_the_shipped_encoder() -> None:
    head = ContextHead.load(context_head_path("use-m3"))
    assert head.encoder == "use-m3"
    assert 0.0 < head.threshold <= 0.5
    assert head.languages == {"de", "en", "es", "fr", "it", "pt"}
    assert head.supports("pt-BR") and not head.supports("ja")


def test_harmless_uses_lose_their_crisis_topics_only_with_the_head(
    with_head: Enricher, without_head: Enricher
) -> None:
    assert all(_topics(without_head, HARMLESS))  # the tone gate alone keeps them
    assert _topics(with_head, HARMLESS) == [[], [], []]


def test_reports_keep_their_topics_with_the_head(with_head: Enricher) -> None:
    assert _topics(with_head, REPORTS) == [
        ["safety"],
        ["safety"],
        ["customer_service", "pricing_fraud"],
    ]


def test_a_language_the_head_was_not_trained_on_keeps_the_gates_answer(
    with_head: Enricher,
) -> None:
    # A head that calls every post harmless, trained (it says) on English only.
    w = np.zeros((512, 2), dtype=np.float32)
    member = Member(((w, np.array([0.0, -9.0], dtype=np.float32)),), 1.0)
    everything_harmless = Head(LABELS, "use-m3", 512, (member,), np.zeros(2, np.float32),
                               {"threshold": 0.5, "languages": ["en"]})  # fmt: skip
    tier = with_head._model
    assert tier is not None
    enricher = Enricher(model=tier.with_context(ContextHead.from_head(everything_harmless)))
    english, portuguese = _topics(enricher, REPORTS[:2])
    assert english == [] and portuguese == ["safety"]


def test_a_head_file_must_name_its_labels_and_threshold(tmp_path: Path) -> None:
    with pytest.raises(HeadFileError, match="labels"):
        ContextHead(_toy_head(("a", "b")), 0.1)
    with pytest.raises(HeadFileError, match="threshold"):
        ContextHead(_toy_head(), 1.5)
    path = tmp_path / "context.npz"
    _toy_head().save(path)
    with pytest.raises(HeadFileError, match="threshold"):
        ContextHead.load(path)
    _toy_head(meta={"threshold": 0.3, "languages": ["en"]}).save(path)
    head = ContextHead.load(path)
    vectors = np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    assert (head.report_probability(vectors) < head.threshold).tolist() == [False, True]
    assert head.supports("en") and not head.supports("de")


def _critical(topic: str) -> bool:
    return topic != "pricing"


@pytest.mark.parametrize(
    ("p_report", "expected"),
    [
        (0.05, ["pricing"]),  # harmless: crisis topics dropped, others stay
        (0.5, ["pricing", "safety"]),  # between the bars: the gate's answer
        (0.9, ["pricing", "safety", "recall"]),  # a report: what the gate dropped comes back
    ],
)
def test_the_head_drops_keeps_or_rescues_by_its_two_bars(
    p_report: float, expected: list[str]
) -> None:
    kept, named = ["pricing", "safety"], ["pricing", "safety", "recall"]
    cut = HeadCut(threshold=0.1, rescue=0.8)
    assert judge_by_context(kept, named, p_report, cut, is_critical=_critical) == expected
    no_rescue = HeadCut(threshold=0.1)
    assert judge_by_context(kept, named, 0.99, no_rescue, is_critical=_critical) == kept


def test_a_rescue_bar_must_lie_above_the_threshold() -> None:
    with pytest.raises(HeadFileError, match="rescue"):
        ContextHead(_toy_head(), 0.3, rescue=0.2)
    assert ContextHead(_toy_head(), 0.3, rescue=0.9).cut == HeadCut(0.3, 0.9)
