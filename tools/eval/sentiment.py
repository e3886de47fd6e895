"""Accuracy of a scorer on a labelled file: the numbers behind `crisiswatch eval`."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from services.sentiment.scorers.base import EmotionScorer, SentimentScorer
from shared.errors import BadInput
from shared.schemas import EMOTIONS, SENTIMENT_LABELS

Task = Literal["sentiment", "emotion"]
TASK_LABELS: dict[str, tuple[str, ...]] = {"sentiment": SENTIMENT_LABELS, "emotion": EMOTIONS}


class EvalFileError(BadInput):
    """The evaluation file is malformed."""


def read_labelled(path: Path, labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """Read `text,label` rows from CSV (with header) or JSONL; labels are case-insensitive."""
    allowed = set(labels)
    texts: list[str] = []
    gold: list[str] = []
    with path.open(encoding="utf-8", newline="") as fh:
        if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
            rows: Any = (
                (n, json.loads(line)) for n, line in enumerate(fh, start=1) if line.strip()
            )
        else:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise EvalFileError(f"{path}: CSV needs a header with `text` and `label`")
            rows = enumerate(reader, start=2)
        for line_no, row in rows:
            if not isinstance(row, dict) or "text" not in row or "label" not in row:
                raise EvalFileError(f"{path}:{line_no}: row needs `text` and `label`")
            label = str(row["label"]).strip().lower()
            if label not in allowed:
                raise EvalFileError(
                    f"{path}:{line_no}: label {row['label']!r} is not one of {sorted(allowed)}"
                )
            texts.append(str(row["text"]))
            gold.append(label)
    if not texts:
        raise EvalFileError(f"{path}: no rows")
    return texts, gold


def summarize(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro recall/F1 over the gold labels present, per-class scores, confusion.

    `labels` orders the output; a label that never occurs in `gold` is left out of the macro
    averages, and predicting it is simply an error.
    """
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    n = len(gold)
    present = [label for label in labels if label in set(gold)]
    shown = [label for label in labels if label in set(gold) or label in set(pred)]
    shown += sorted((set(gold) | set(pred)) - set(shown))
    index = {label: i for i, label in enumerate(shown)}
    matrix = [[0] * len(shown) for _ in shown]
    for g, p in zip(gold, pred, strict=True):
        matrix[index[g]][index[p]] += 1
    per_class: dict[str, dict[str, float | int]] = {}
    for label in present:
        i = index[label]
        tp = matrix[i][i]
        support = sum(matrix[i])
        predicted = sum(row[i] for row in matrix)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }
    correct = sum(g == p for g, p in zip(gold, pred, strict=True))
    k = len(present)
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "macro_recall": sum(float(c["recall"]) for c in per_class.values()) / k if k else 0.0,
        "macro_f1": sum(float(c["f1"]) for c in per_class.values()) / k if k else 0.0,
        "per_class": per_class,
        "confusion": {"labels": shown, "matrix": matrix},
    }


def predict(task: Task, scorer: SentimentScorer | EmotionScorer, texts: Sequence[str]) -> list[str]:
    """Return the predicted label of each text."""
    results: list[Any] = list(scorer.score(texts))
    if task == "sentiment":
        return [str(r.label) for r in results]
    return [_top(r) for r in results]


def _top(scores: dict[str, float]) -> str:
    return max(EMOTIONS, key=lambda emotion: scores.get(emotion, 0.0))


def evaluate_file(
    path: Path,
    task: Task,
    scorer: SentimentScorer | EmotionScorer,
    *,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Score every row of `path` with `scorer` and summarise against the gold labels."""
    if task not in TASK_LABELS:
        raise ValueError(f"unknown task {task!r}")
    labels = TASK_LABELS[task]
    texts, gold = read_labelled(path, labels)
    pred: list[str] = []
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        pred.extend(predict(task, scorer, texts[start : start + batch_size]))
    elapsed = time.perf_counter() - started
    summary = summarize(gold, pred, labels)
    summary["texts_per_s"] = len(texts) / elapsed if elapsed > 0 else float("inf")
    summary["scorer"] = scorer.name
    return summary
