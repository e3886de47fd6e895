"""Train the model tier's heads on a sentence encoder, report held-out figures, ship them.

`crisiswatch model build --kind heads` runs `build_heads`. Method (MODEL_CARD.md has the
figures): features are the encoder's vector plus the side features; each head is a log-linear
ensemble of a logistic regression and three one-hidden-layer networks (256 ReLU units, seeds
0-2), with the class prior half divided out. Nothing is tuned on a split that is reported:
- sentiment trains on the UMSAB train files of the languages the encoder covers; UMSAB val
  is reported per language;
- TweetEval sentiment val shares 1,277 tweets with UMSAB English train and 294 with UMSAB
  English val, so its figure is cross-fitted: two heads, each trained without one half of
  its tweets (the training set minus that half's tweets), each scored on that half;
- emotion trains on GoEmotions ekman train and TweetEval emotion train; reported on
  GoEmotions dev and TweetEval emotion val;
- Chinese reviews are not trained on: they measure transfer (3-class and polar accuracy).
Needs scikit-learn (a dev dependency), imported here only.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.encoders.base import SentenceEncoder
from services.sentiment.encoders.use import UniversalSentenceEncoder
from services.sentiment.scorers.heads import HEAD_DIR, Head, Member
from services.sentiment.scorers.model_tier import head_paths
from services.sentiment.scorers.side_features import SideFeatures
from shared.schemas import EMOTIONS, SENTIMENT_LABELS
from tools.eval.sentiment import summarize
from tools.train.multilingual_data import (
    HEADLINE_LANGUAGES,
    UMSAB_LANGUAGES,
    Labelled,
    chinese_reviews,
    emotion_sets,
    tweeteval_sentiment_val,
    umsab,
)

log = logging.getLogger(__name__)
HIDDEN_UNITS = 256
NETWORK_SEEDS = (0, 1, 2)
PRIOR_POWER = 0.5  # share of the training prior divided out of the ensemble's score


def fit_head(
    x: np.ndarray,
    labels: Sequence[str],
    order: Sequence[str],
    *,
    encoder: str,
    meta: dict[str, Any],
) -> Head:
    """Fit the ensemble (logistic regression + small networks) on features `x`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    y = np.array([list(order).index(label) for label in labels])
    linear = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x, y)
    members = [Member(_softmax_layers(((linear.coef_.T.copy(), linear.intercept_.copy()),)), 1.0)]
    for seed in NETWORK_SEEDS:
        net = MLPClassifier(
            hidden_layer_sizes=(HIDDEN_UNITS,), alpha=0.01, max_iter=200,
            early_stopping=True, random_state=seed,
        ).fit(x, y)  # fmt: skip
        layers = tuple(zip(net.coefs_, net.intercepts_, strict=True))
        members.append(Member(_softmax_layers(layers), weight=1.0 / len(NETWORK_SEEDS)))
    prior = np.bincount(y, minlength=len(order)) / len(y)
    offset = -PRIOR_POWER * np.log(np.maximum(prior, 1e-6))
    return Head(tuple(order), encoder, x.shape[1], tuple(members), offset.astype(np.float32), meta)


def _softmax_layers(
    layers: tuple[tuple[np.ndarray, np.ndarray], ...],
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """scikit-learn gives a two-class model one logit (class 1 against class 0); a head's
    member is a softmax, so that logit becomes the second of two columns (the first 0)."""
    *hidden, (w, b) = layers
    if w.shape[1] != 1:
        return layers
    return (*hidden, (np.hstack([np.zeros_like(w), w]), np.concatenate([np.zeros_like(b), b])))


class Featurizer:
    """Encoder vectors plus side features, memoised per text and language."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.encoder = encoder
        self.side = SideFeatures()
        self._memo: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, data: Labelled) -> np.ndarray:
        keys = list(zip(data.texts, data.languages, strict=True))
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            texts = [t for t, _ in missing]
            rows = np.hstack(
                [
                    self.encoder.encode(texts),
                    self.side.compute(texts, [lang for _, lang in missing]),
                ]
            )
            self._memo.update(zip(missing, rows, strict=True))
        return np.vstack([self._memo[k] for k in keys])


def _predict(head: Head, x: np.ndarray) -> list[str]:
    return [head.labels[i] for i in head.probabilities(x).argmax(axis=1)]


def _figures(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    s = summarize(gold, pred, labels)
    return {
        k: round(s[k], 4) if isinstance(s[k], float) else s[k]
        for k in ("n", "accuracy", "macro_recall", "macro_f1")
    }


def _concat(parts: Sequence[Labelled]) -> Labelled:
    out = Labelled()
    for p in parts:
        out.texts += p.texts
        out.languages += p.languages
        out.labels += p.labels
    return out


def build_heads(
    data_dir: Path, *, encoder: SentenceEncoder | None = None, out_dir: Path | None = None
) -> dict[str, Any]:
    """Train both heads for `encoder` (default USE v3), write them, return the figures."""
    started = time.perf_counter()
    encoder = encoder or UniversalSentenceEncoder()
    featurize = Featurizer(encoder)
    languages = [c for c in UMSAB_LANGUAGES.values() if encoder.supports(c)]
    train = _concat([umsab(data_dir, "train", c) for c in languages])
    val = {c: umsab(data_dir, "val", c) for c in UMSAB_LANGUAGES.values()}
    report: dict[str, Any] = {"encoder": encoder.name, "sentiment_languages": languages}
    meta = {"trained_on": "UMSAB train: " + ",".join(languages), "method": __doc__.split("\n")[2]}
    head = fit_head(
        featurize(train), train.labels, SENTIMENT_LABELS, encoder=encoder.name, meta=meta
    )
    sentiment: dict[str, Any] = {}
    for code, data in val.items():
        sentiment[f"umsab_val_{code}"] = _figures(
            data.labels, _predict(head, featurize(data)), SENTIMENT_LABELS
        )
    sentiment["umsab_val_headline_macro_f1"] = round(
        float(np.mean([sentiment[f"umsab_val_{c}"]["macro_f1"] for c in HEADLINE_LANGUAGES])), 4
    )
    sentiment["tweeteval_val_crossfit"] = _crossfit_tweeteval(
        data_dir, train, featurize, encoder.name
    )
    zh = chinese_reviews(data_dir, 4000)
    zh_pred = _predict(head, featurize(zh))
    polar = [(g, p) for g, p in zip(zh.labels, zh_pred, strict=True) if p != "neutral"]
    sentiment["chinese_reviews_transfer"] = {
        "n": len(zh),
        "accuracy_3class": round(
            sum(g == p for g, p in zip(zh.labels, zh_pred, strict=True)) / len(zh), 4
        ),
        "polar_accuracy": round(sum(g == p for g, p in polar) / max(1, len(polar)), 4),
        "share_neutral": round(1 - len(polar) / len(zh), 4),
    }
    report["sentiment"] = sentiment

    etrain, evals = emotion_sets(data_dir)
    emeta = {"trained_on": "GoEmotions ekman train + TweetEval emotion train (x3)"}
    ehead = fit_head(featurize(etrain), etrain.labels, EMOTIONS, encoder=encoder.name, meta=emeta)
    report["emotion"] = {
        name: _figures(data.labels, _predict(ehead, featurize(data)), EMOTIONS)
        for name, data in evals.items()
    }
    sentiment_path, emotion_path = head_paths(encoder.name, out_dir or HEAD_DIR)
    head.save(sentiment_path)
    ehead.save(emotion_path)
    report["files"] = {"sentiment": str(sentiment_path), "emotion": str(emotion_path)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _crossfit_tweeteval(
    data_dir: Path, train: Labelled, featurize: Featurizer, encoder: str
) -> dict[str, Any]:
    tweets = tweeteval_sentiment_val(data_dir)
    order = list(range(len(tweets)))
    random.Random(0).shuffle(order)
    halves = (sorted(order[: len(order) // 2]), sorted(order[len(order) // 2 :]))
    gold: list[str] = []
    pred: list[str] = []
    for held in halves:
        unseen = {tweets.texts[i] for i in held}
        fold_train = train.subset([i for i, t in enumerate(train.texts) if t not in unseen])
        head = fit_head(
            featurize(fold_train), fold_train.labels, SENTIMENT_LABELS, encoder=encoder, meta={}
        )
        part = tweets.subset(held)
        gold += part.labels
        pred += _predict(head, featurize(part))
    return _figures(gold, pred, SENTIMENT_LABELS)
