"""The model tier: shipped heads on the multilingual encoder, and the heads' file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.sentiment.encoders.use import UniversalSentenceEncoder
from services.sentiment.scorers.heads import Head, HeadFileError, Member
from services.sentiment.scorers.model_tier import ModelTier
from shared.schemas import EMOTIONS

CLEAR = [
    ("en", "Absolutely love my new headphones, best purchase this year!", "positive"),
    ("en", "My order arrived broken and support keeps ignoring me. Terrible.", "negative"),
    ("es", "Me encanta mi nuevo teléfono, funciona perfecto.", "positive"),
    ("es", "El pedido llegó roto y nadie responde. Pésimo servicio.", "negative"),
    ("fr", "Le service client est vraiment nul, aucune réponse depuis une semaine.", "negative"),
    ("de", "Die neue Uhr ist super, ich bin sehr zufrieden.", "positive"),
    ("it", "Servizio pessimo, il pacco è arrivato rotto e nessuno risponde.", "negative"),
    ("pt", "Comprei e chegou quebrado, que decepção horrível.", "negative"),
    ("ar", "خدمة العملاء ممتازة وسريعة، شكراً جزيلاً", "positive"),
    ("ja", "このスマホ最高！バッテリーも長持ちで大満足です。", "positive"),
]


@pytest.fixture(scope="module")
def tier() -> ModelTier:
    return ModelTier.for_encoder(UniversalSentenceEncoder())


def test_shipped_heads_read_clear_cases_in_many_languages(tier: ModelTier) -> None:
    scores, emotions = tier.score([t for _, t, _ in CLEAR], [lang for lang, _, _ in CLEAR])
    assert [s.label for s in scores] == [label for _, _, label in CLEAR]
    for score, emotion in zip(scores, emotions, strict=True):
        assert score.scorer == "model:use-m3"
        assert 0.0 <= score.confidence <= 1.0 and -1.0 <= score.score <= 1.0
        assert (score.score > 0) == (score.label == "positive") or score.label == "neutral"
        assert set(emotion) == set(EMOTIONS)
        assert sum(emotion.values()) == pytest.approx(1.0, abs=1e-3)


def test_emotions_follow_what_is_said(tier: ModelTier) -> None:
    texts = [
        "I am furious, this company scammed me and nobody cares!!",
        "So happy with the new update, it's wonderful",
        "I'm scared the battery will explode again at night",
    ]
    _, emotions = tier.score(texts, ["en"] * 3)
    top = [max(e, key=e.__getitem__) for e in emotions]
    assert top == ["anger", "joy", "fear"]


def test_a_head_for_another_encoder_is_refused(tier: ModelTier, tmp_path: Path) -> None:
    head = _tiny_head(("negative", "neutral", "positive"), encoder="hf:other", dim=3)
    with pytest.raises(HeadFileError, match="encoder"):
        ModelTier(tier.encoder, head, head)


def test_head_round_trips_through_its_file(tmp_path: Path) -> None:
    head = _tiny_head(("a", "b"), encoder="x", dim=3)
    head.save(tmp_path / "h.npz")
    loaded = Head.load(tmp_path / "h.npz")
    x = np.array([[1.0, 0.0, -1.0], [0.2, 0.3, 0.4]], dtype=np.float32)
    np.testing.assert_allclose(loaded.probabilities(x), head.probabilities(x), atol=1e-3)
    assert loaded.labels == ("a", "b") and loaded.encoder == "x"
    with pytest.raises(HeadFileError, match="features"):
        loaded.probabilities(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(HeadFileError, match="no head file"):
        Head.load(tmp_path / "missing.npz")


def _tiny_head(labels: tuple[str, ...], *, encoder: str, dim: int) -> Head:
    rng = np.random.default_rng(0)
    k = len(labels)
    linear = Member(((rng.normal(size=(dim, k)), np.zeros(k)),), weight=1.0)
    hidden = Member(
        ((rng.normal(size=(dim, 4)), np.zeros(4)), (rng.normal(size=(4, k)), np.zeros(k))),
        weight=0.5,
    )
    return Head(labels, encoder, dim, (linear, hidden), np.zeros(k, dtype=np.float32), {})
