from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
)

from services.sentiment.model.assemble import encoder_dir, materialize_default_model
from services.sentiment.scorers.transformer import (
    InferenceOptions,
    ModelLabelError,
    TransformerEmotionScorer,
    TransformerSentimentScorer,
    emotion_label_targets,
    sentiment_label_values,
    top_emotion,
)
from shared.schemas import EMOTIONS

OFFLINE = InferenceOptions(local_files_only=True, batch_size=4, max_length=32)
TEXTS = ["ok", "a much longer text with many more tokens than the first", "hi there", "", "meh"]


def tiny_model(
    path: Path, labels: list[str], *, winner: int | None = None, problem_type: str | None = None
) -> Path:
    """Save a small random-init BERT classifier; `winner` makes one label dominate."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type=problem_type,
    )
    model = BertForSequenceClassification(config).eval()
    if winner is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.fill_(-10.0)
            model.classifier.bias[winner] = 10.0
    model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (path / name).write_bytes((encoder_dir() / name).read_bytes())
    return path


@pytest.mark.parametrize(
    ("labels", "winner", "label", "score"),
    [
        (["POS", "NEG", "NEU"], 1, "negative", -1.0),
        (["LABEL_0", "LABEL_1", "LABEL_2"], 2, "positive", 1.0),
        (["negative", "neutral", "positive"], 1, "neutral", 0.0),
        (["1 star", "2 stars", "3 stars", "4 stars", "5 stars"], 3, "positive", 0.5),
        (["NEGATIVE", "POSITIVE"], 0, "negative", -1.0),
    ],
)
def test_sentiment_label_mapping_end_to_end(
    tmp_path: Path, labels: list[str], winner: int, label: str, score: float
) -> None:
    scorer = TransformerSentimentScorer(
        tiny_model(tmp_path, labels, winner=winner), options=OFFLINE
    )
    results = scorer.score(TEXTS)
    assert [r.label for r in results] == [label] * len(TEXTS)
    assert all(r.score == pytest.approx(score, abs=1e-3) for r in results)
    assert all(r.confidence == pytest.approx(1.0, abs=1e-3) for r in results)
    assert scorer.name == f"transformer:{tmp_path.name}"


def test_batching_and_padding_do_not_change_results(tmp_path: Path) -> None:
    path = tiny_model(tmp_path, ["negative", "neutral", "positive"])
    one = TransformerSentimentScorer(
        path, options=InferenceOptions(local_files_only=True, batch_size=1)
    )
    many = TransformerSentimentScorer(path, options=OFFLINE)
    a, b = one.score(TEXTS), many.score(TEXTS)
    assert [r.label for r in a] == [r.label for r in b]
    assert np.allclose([r.score for r in a], [r.score for r in b], atol=1e-5)
    # Order is the input order even though batches are sorted by length internally.
    assert many.score(TEXTS[::-1])[0].score == pytest.approx(b[-1].score, abs=1e-5)
    assert many.score([]) == []


def test_int8_quantisation_stays_close(tmp_path: Path) -> None:
    path = tiny_model(tmp_path, ["negative", "neutral", "positive"])
    plain = TransformerSentimentScorer(path, options=OFFLINE).score(TEXTS)
    quant_scorer = TransformerSentimentScorer(
        path, options=InferenceOptions(local_files_only=True, quantize=True)
    )
    quant = quant_scorer.score(TEXTS)
    assert any(
        type(m).__module__.startswith("torch.ao.nn.quantized")
        for m in quant_scorer.classifier._model.modules()
    )
    assert np.allclose([r.score for r in plain], [r.score for r in quant], atol=0.1)


def test_emotion_folding_and_multi_label(tmp_path: Path) -> None:
    soft = tiny_model(tmp_path / "soft", ["anger", "joy", "optimism", "sadness"], winner=2)
    scores = TransformerEmotionScorer(soft, options=OFFLINE).score(["great news"])[0]
    assert set(scores) == set(EMOTIONS)
    assert top_emotion(scores) == "joy" and scores["joy"] == pytest.approx(1.0, abs=1e-3)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)

    multi = tiny_model(
        tmp_path / "multi",
        ["fear", "nervousness", "surprise"],
        winner=1,
        problem_type="multi_label_classification",
    )
    scores = TransformerEmotionScorer(multi, options=OFFLINE).score(["eek"])[0]
    assert scores["fear"] == pytest.approx(1.0, abs=1e-3)
    assert scores["surprise"] < 0.01 and scores["anger"] == 0.0


def test_label_map_override_and_unknown_labels(tmp_path: Path) -> None:
    path = tiny_model(tmp_path, ["bad", "fine", "good"], winner=2)
    with pytest.raises(ModelLabelError, match="label_map"):
        TransformerSentimentScorer(path, options=OFFLINE).score(["x"])
    mapped = TransformerSentimentScorer(
        path, options=OFFLINE, label_map={"bad": "negative", "fine": "neutral", "good": "positive"}
    )
    assert mapped.score(["x"])[0].label == "positive"


def test_label_helpers() -> None:
    assert sentiment_label_values(["Very_Negative", "neu", "pos"]) == [-1.0, 0.0, 1.0]
    assert sentiment_label_values(["LABEL_0", "LABEL_1"]) == [-1.0, 1.0]
    with pytest.raises(ModelLabelError):
        sentiment_label_values(["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"])
    assert emotion_label_targets(["Anger", "love", "trust"]) == ["anger", "joy", None]
    with pytest.raises(ModelLabelError):
        emotion_label_targets(["LABEL_0", "LABEL_1"])


def test_supports_languages(tmp_path: Path) -> None:
    everyone = TransformerSentimentScorer("some/model")
    assert everyone.supports("ja") and not everyone.classifier.loaded
    english = TransformerSentimentScorer("some/model", languages=["en"])
    assert english.supports("en") and not english.supports("fr")


def test_num_threads_setting_is_applied(tmp_path: Path) -> None:
    path = tiny_model(tmp_path, ["negative", "neutral", "positive"])
    before = torch.get_num_threads()
    try:
        TransformerSentimentScorer(
            path, options=InferenceOptions(local_files_only=True, num_threads=1)
        ).load()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_options_validate() -> None:
    with pytest.raises(ValueError):
        InferenceOptions(batch_size=0)


# ---------------------------------------------------------------- the shipped default models


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.mark.parametrize("kind", ["sentiment", "emotion"])
def test_default_model_is_a_standard_hf_directory(model_cache: Path, kind: str) -> None:
    path = materialize_default_model(kind, model_cache)  # type: ignore[arg-type]
    assert materialize_default_model(kind, model_cache) == path  # type: ignore[arg-type]
    model, info = AutoModelForSequenceClassification.from_pretrained(
        path, local_files_only=True, output_loading_info=True
    )
    assert type(model).__name__ == "BertForSequenceClassification"
    assert not info["missing_keys"] and not info["unexpected_keys"]
    expected = ("negative", "neutral", "positive") if kind == "sentiment" else EMOTIONS
    assert tuple(model.config.id2label[i] for i in range(len(expected))) == expected


def test_default_sentiment_model_scores_through_the_generic_path(model_cache: Path) -> None:
    scorer = TransformerSentimentScorer(
        materialize_default_model("sentiment", model_cache), options=OFFLINE
    )
    good, bad = scorer.score(
        ["I absolutely love this, best purchase ever!", "This is terrible, I want a refund. Awful."]
    )
    assert good.label == "positive" and good.score > 0.3
    assert bad.label == "negative" and bad.score < -0.3


def test_default_emotion_model_scores_through_the_generic_path(model_cache: Path) -> None:
    scorer = TransformerEmotionScorer(
        materialize_default_model("emotion", model_cache), options=OFFLINE
    )
    angry, happy, sad = scorer.score(
        [
            "I am furious, this is outrageous and they should be ashamed",
            "So happy and grateful today, what a wonderful surprise party!",
            "I miss her so much, I cried all night",
        ]
    )
    assert top_emotion(angry) == "anger"
    assert top_emotion(happy) == "joy"
    assert top_emotion(sad) == "sadness"
