import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from shared.schemas import EMOTIONS, SENTIMENT_LABELS, SentimentScore
from tools.eval.sentiment import EvalFileError, evaluate_file, summarize


class KeywordSentiment:
    """Deterministic scorer: the label is whichever keyword the text contains."""

    name = "keyword"

    def supports(self, language: str) -> bool:
        return True

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        out = []
        for text in texts:
            label = next((lab for lab in SENTIMENT_LABELS if lab in text), "neutral")
            out.append(SentimentScore(label=label, score=0.0, confidence=1.0, scorer=self.name))
        return out


class AlwaysNeutralEmotion:
    name = "flat"

    def supports(self, language: str) -> bool:
        return True

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return [{e: (0.9 if e == "neutral" else 0.01) for e in EMOTIONS} for _ in texts]


def test_summarize_matches_hand_computed_metrics() -> None:
    gold = ["negative", "negative", "neutral", "positive", "positive", "positive"]
    pred = ["negative", "neutral", "neutral", "positive", "negative", "positive"]
    s = summarize(gold, pred, SENTIMENT_LABELS)
    assert s["n"] == 6
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["per_class"]["negative"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert s["per_class"]["neutral"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert s["per_class"]["positive"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert s["macro_recall"] == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)
    assert s["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert s["confusion"] == {
        "labels": ["negative", "neutral", "positive"],
        "matrix": [[1, 1, 0], [0, 1, 0], [1, 0, 2]],
    }


def test_macro_averages_cover_gold_labels_only() -> None:
    gold = ["anger", "joy", "sadness", "joy"]
    pred = ["anger", "joy", "neutral", "neutral"]
    s = summarize(gold, pred, EMOTIONS)
    assert set(s["per_class"]) == {"anger", "joy", "sadness"}
    # anger 1/1, joy 1/2, sadness 0/1: predicting `neutral` is just an error.
    assert s["macro_recall"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["confusion"]["labels"] == ["anger", "sadness", "joy", "neutral"]
    assert s["confusion"]["matrix"][1] == [0, 0, 0, 1]


def test_summarize_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError):
        summarize(["joy"], [], EMOTIONS)


def test_evaluate_csv_is_lenient_with_label_case(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        'text,label\n"positive, yes", Positive\nnegative here,NEGATIVE\nmeh,neutral \n'
        "positive?,negative\n",
        encoding="utf-8",
    )
    s = evaluate_file(path, "sentiment", KeywordSentiment())
    assert s["n"] == 4
    assert s["accuracy"] == pytest.approx(0.75)
    assert s["scorer"] == "keyword"
    assert s["texts_per_s"] > 0


def test_evaluate_jsonl_emotion(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    rows = [{"text": "ok", "label": "neutral"}, {"text": "grr", "label": "Anger"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    s = evaluate_file(path, "emotion", AlwaysNeutralEmotion())
    assert s["accuracy"] == 0.5
    assert s["macro_recall"] == pytest.approx(0.5)
    assert set(s["per_class"]) == {"anger", "neutral"}


def test_evaluate_runs_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("text,label\n" + "positive,positive\n" * 7, encoding="utf-8")
    seen: list[int] = []

    class Counting(KeywordSentiment):
        def score(self, texts: Sequence[str]) -> list[SentimentScore]:
            seen.append(len(texts))
            return super().score(texts)

    assert evaluate_file(path, "sentiment", Counting(), batch_size=3)["accuracy"] == 1.0
    assert seen == [3, 3, 1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\nhi,happy\n", ":2: label 'happy'"),
        ("body,tag\nhi,neutral\n", "header"),
        ("text,label\n", "no rows"),
    ],
)
def test_bad_files_fail_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalFileError, match=message):
        evaluate_file(path, "sentiment", KeywordSentiment())


def test_jsonl_row_without_label_fails(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x", "label": "joy"}\n{"text": "y"}\n', encoding="utf-8")
    with pytest.raises(EvalFileError, match=":2:"):
        evaluate_file(path, "emotion", AlwaysNeutralEmotion())
