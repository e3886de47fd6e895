"""Chinese sentiment: logistic regression over hashed jieba word unigrams and bigrams.

Trained by `build_chinese_model` on the Chinese product and food-delivery reviews in the
shared data folder (positive/negative only); the weights ship as a small `.npz`. Texts
the model is unsure about (|score| inside a band calibrated on held-out data) are
labelled neutral, since the training data has no neutral class. Emoji move the score too.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.core.segment import cut, jieba_tokenizer
from services.sentiment.scorers.lexicon import emoji_valence
from shared.schemas import SentimentScore

NAME = "zh-logreg-v1"
DEFAULT_MODEL = Path(__file__).with_name("data") / "zh_sentiment.npz"
HASH_BITS = 18
MAX_CHARS = 600  # reviews beyond this add little and cost segmentation time
EMOJI_WEIGHT = 0.8  # logit units per unit of emoji valence
DATA_FILES = ("waimai_10k.csv", "online_shopping_10_cats.csv")


def hashed_features(words: Iterable[str], bits: int = HASH_BITS) -> list[int]:
    """Return the sorted distinct hash buckets of word unigrams and adjacent bigrams."""
    tokens = [w.lower() for w in words if w.strip()]
    mask = (1 << bits) - 1
    grams = tokens + [f"{a}\x1f{b}" for a, b in itertools.pairwise(tokens)]
    return sorted({zlib.crc32(g.encode("utf-8")) & mask for g in grams})


def _logistic(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


class ChineseSentimentScorer:
    """Scores Chinese text; loads weights and initialises jieba at construction."""

    name = NAME

    def __init__(self, model_path: Path | str | None = None) -> None:
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        with np.load(path) as data:
            self._weights = data["weights"].astype(np.float32)
            self._bias = float(data["bias"])
            self._band = float(data["neutral_band"])
            self._bits = int(data["hash_bits"])
        if self._weights.shape != (1 << self._bits,):
            raise ValueError(f"{path}: weights do not match hash_bits={self._bits}")
        self._jieba = jieba_tokenizer()

    @property
    def neutral_band(self) -> float:
        """Scores with an absolute value below this are labelled neutral."""
        return self._band

    def supports(self, language: str) -> bool:
        """True for Chinese (``zh``, any script or region tag)."""
        return language.lower().split("-", 1)[0] == "zh"

    def logit(self, text: str) -> float:
        """Return the model's log-odds that `text` is positive (emoji included)."""
        buckets = hashed_features(list(cut(text[:MAX_CHARS])), self._bits)
        value = self._bias
        if buckets:
            value += float(self._weights[buckets].sum()) / math.sqrt(len(buckets))
        emoji_sum, emoji_count = emoji_valence(text)
        if emoji_count:
            value += EMOJI_WEIGHT * emoji_sum
        return value

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """Score a batch of Chinese texts."""
        return [self._score_one(text) for text in texts]

    def _score_one(self, text: str) -> SentimentScore:
        # model_construct skips validation: every field is in range by construction, and
        # validation would be a noticeable share of the per-text cost.
        if not text.strip():
            return SentimentScore.model_construct(
                label="neutral", score=0.0, confidence=0.0, scorer=self.name
            )
        probability = _logistic(self.logit(text))
        value = max(-1.0, min(1.0, 2.0 * probability - 1.0))
        if abs(value) < self._band:
            confidence = 0.5 + 0.5 * (1.0 - abs(value) / self._band)
            return SentimentScore.model_construct(
                label="neutral",
                score=round(value, 4),
                confidence=round(confidence, 4),
                scorer=self.name,
            )
        return SentimentScore.model_construct(
            label="positive" if value > 0 else "negative",
            score=round(value, 4),
            confidence=round(max(probability, 1.0 - probability), 4),
            scorer=self.name,
        )


def _read_reviews(data_dir: Path) -> list[tuple[str, int, str]]:
    rows: list[tuple[str, int, str]] = []
    for name in DATA_FILES:
        with (data_dir / name).open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                text = (row.get("review") or "").replace("\ufeff", "").strip()
                label = (row.get("label") or "").strip()
                if text and label in {"0", "1"}:
                    rows.append((text, int(label), name))
    return rows


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    scores = []
    for cls in (0, 1):
        tp = float(np.sum((y_pred == cls) & (y_true == cls)))
        fp = float(np.sum((y_pred == cls) & (y_true != cls)))
        fn = float(np.sum((y_pred != cls) & (y_true == cls)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / 2


def _calibrate_band(margins: np.ndarray, correct: np.ndarray) -> float:
    """Widest band whose inside is no better than a 70% guess (ties to the narrower)."""
    band = 0.0
    for candidate in np.arange(0.02, 0.62, 0.02):
        inside = margins < candidate
        if inside.sum() < 20:
            continue
        if float(correct[inside].mean()) <= 0.70:
            band = float(candidate)
    return round(band, 2)


def build_chinese_model(
    data_dir: Path | str, out_path: Path | str, *, seed: int = 13
) -> dict[str, Any]:
    """Train the Chinese model on the review CSVs, write `out_path` and return its metrics.

    Split per source file: 80% train, 10% validation (picks C and the neutral band), 10%
    test (reported). Needs scikit-learn and scipy (dev dependencies), imported here only.
    """
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    rows = _read_reviews(Path(data_dir))
    rng = random.Random(seed)
    rng.shuffle(rows)
    split: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
    for name in DATA_FILES:
        part = [(text, label) for text, label, source in rows if source == name]
        n_test = len(part) // 10
        split["test"] += part[:n_test]
        split["val"] += part[n_test : 2 * n_test]
        split["train"] += part[2 * n_test :]

    tokenizer = jieba_tokenizer()

    def matrix(items: list[tuple[str, int]]) -> tuple[Any, np.ndarray]:
        indptr, indices, values = [0], [], []
        for text, _ in items:
            buckets = hashed_features(tokenizer.lcut(text[:MAX_CHARS]))
            indices.extend(buckets)
            values.extend([1.0 / math.sqrt(len(buckets))] * len(buckets) if buckets else [])
            indptr.append(len(indices))
        x = csr_matrix(
            (np.asarray(values, dtype=np.float64), np.asarray(indices), np.asarray(indptr)),
            shape=(len(items), 1 << HASH_BITS),
        )
        return x, np.asarray([label for _, label in items])

    x_train, y_train = matrix(split["train"])
    x_val, y_val = matrix(split["val"])
    x_test, y_test = matrix(split["test"])

    best: tuple[float, float, Any] | None = None
    for c in (2.0, 8.0, 32.0):
        clf = LogisticRegression(C=c, solver="liblinear", max_iter=300)
        clf.fit(x_train, y_train)
        accuracy = float((clf.predict(x_val) == y_val).mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, c, clf)
    assert best is not None
    val_accuracy, chosen_c, clf = best

    val_prob = clf.predict_proba(x_val)[:, 1]
    band = _calibrate_band(np.abs(2 * val_prob - 1), (val_prob >= 0.5) == (y_val == 1))

    test_prob = clf.predict_proba(x_test)[:, 1]
    test_pred = (test_prob >= 0.5).astype(int)
    decided = np.abs(2 * test_prob - 1) >= band
    weights = clf.coef_[0].astype(np.float16)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        weights=weights,
        bias=np.float32(clf.intercept_[0]),
        neutral_band=np.float32(band),
        hash_bits=np.int32(HASH_BITS),
    )
    return {
        "train": len(split["train"]),
        "validation": len(split["val"]),
        "test": len(split["test"]),
        "C": chosen_c,
        "validation_accuracy": round(val_accuracy, 4),
        "test_accuracy": round(float((test_pred == y_test).mean()), 4),
        "test_macro_f1": round(_macro_f1(y_test, test_pred), 4),
        "neutral_band": band,
        "test_share_neutral": round(float(1 - decided.mean()), 4),
        "test_accuracy_when_polar": round(float((test_pred == y_test)[decided].mean()), 4),
        "bytes": out.stat().st_size,
    }
