"""Train the figurative head: are a post's crisis words literal ("the store was on fire") or not?

An experiment for issue 16's last two near misses, not shipped: measured once on the
topic_context corpus it cost crisis recall or changed nothing (tests/data/topic_context/
README.md has the figures). Run `python3 -m tools.train.figurative OUT_DIR [--news-only]`
(`--news-only`: literal reports from CrisisLex alone, the first variant). Data:
`figurative_data.py` (weak labels by source, none of it the topic_context corpus). Features
are the encoder's sentence vector alone (the one the enricher already holds); the head is a
balanced logistic regression. The decision threshold is chosen on the validation split, for
the posts where the context gate would use it (those it passes on tone, not fearful): the lowest
probability of `figurative` at which at most `MAX_LITERAL_LOSS` of literal reports are
called figurative. Needs scikit-learn (a dev dependency), imported here only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.core.context import ContextGate, supports_crisis
from services.sentiment.encoders.base import SentenceEncoder
from services.sentiment.encoders.use import UniversalSentenceEncoder
from services.sentiment.scorers.heads import Head, Member
from services.sentiment.scorers.model_tier import ModelTier
from tools.train.figurative_data import FIGURATIVE, LABELS, LITERAL, figurative_sets
from tools.train.multilingual_data import Labelled

MAX_LITERAL_LOSS = 0.01  # share of literal validation reports the head may hide
_GRID = np.round(np.arange(0.5, 0.996, 0.005), 3)


def _in_gate_region(tier: ModelTier, data: Labelled) -> np.ndarray:
    """Rows whose crisis words the gate passes on tone, and does not on fear alone."""
    scores, emotions = tier.score(data.texts, data.languages)
    return np.array(
        [
            supports_crisis(s, e) and e.get("fear", 0.0) < ContextGate().fear_at_least
            for s, e in zip(scores, emotions, strict=True)
        ]
    )


def choose_threshold(p_figurative: np.ndarray, literal: np.ndarray) -> float:
    """Lowest threshold at which at most MAX_LITERAL_LOSS of the literal rows reach it."""
    for t in _GRID:
        if literal.sum() == 0 or (p_figurative[literal] >= t).mean() <= MAX_LITERAL_LOSS:
            return float(t)
    return 1.0


def build_figurative_head(
    data_dir: Path,
    out_dir: Path,
    *,
    encoder: SentenceEncoder | None = None,
    complaints: bool = True,
) -> dict[str, Any]:
    """Fit the head, choose its threshold on validation, write it, return the figures."""
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    encoder = encoder or UniversalSentenceEncoder()
    tier = ModelTier.for_encoder(encoder)
    train, val = figurative_sets(data_dir, complaints=complaints)
    x_train = encoder.encode(train.texts)
    y_train = np.array([LABELS.index(y) for y in train.labels])
    fit = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x_train, y_train)
    head = Head(
        labels=LABELS,
        encoder=encoder.name,
        input_dim=x_train.shape[1],
        members=(Member(((_two_columns(fit.coef_), _two_intercepts(fit.intercept_)),), 1.0),),
        offset=np.zeros(len(LABELS), dtype=np.float32),
        meta={},
    )
    p_val = head.probabilities(encoder.encode(val.texts))[:, LABELS.index(FIGURATIVE)]
    literal = np.array([y == LITERAL for y in val.labels])
    region = _in_gate_region(tier, val)
    threshold = choose_threshold(p_val[region], literal[region])
    decided = (p_val >= threshold) & region
    report: dict[str, Any] = {
        "encoder": encoder.name,
        "complaints": complaints,
        "train": _counts(train),
        "validation": _counts(val),
        "threshold": threshold,
        "validation_in_gate_region": {
            "literal": int((literal & region).sum()),
            "figurative": int((~literal & region).sum()),
        },
        "validation_literal_hidden": int((decided & literal).sum()),
        "validation_figurative_hidden": int((decided & ~literal).sum()),
        "validation_accuracy_at_0.5": round(float(((p_val >= 0.5) == ~literal).mean()), 4),
    }
    meta = {
        "trained_on": "CrisisLexT26 related+informative (literal) vs happy GoEmotions, "
        "TweetEval, UMSAB posts (figurative), crisis-word sentences only",
        "threshold": threshold,
        "validation": {k: v for k, v in report.items() if k.startswith("validation")},
    }
    head = Head(head.labels, head.encoder, head.input_dim, head.members, head.offset, meta)
    path = out_dir / encoder.name / "figurative.npz"
    head.save(path)
    report["file"] = str(path)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _two_columns(coef: np.ndarray) -> np.ndarray:
    """A binary logistic regression as two softmax columns (literal 0, figurative +w)."""
    return np.hstack([np.zeros((coef.shape[1], 1)), coef.T]).astype(np.float32)


def _two_intercepts(intercept: np.ndarray) -> np.ndarray:
    return np.array([0.0, float(intercept[0])], dtype=np.float32)


def _counts(data: Labelled) -> dict[str, int]:
    out: dict[str, int] = {}
    for label, language in zip(data.labels, data.languages, strict=True):
        key = f"{label}_{language}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


if __name__ == "__main__":
    import json
    import sys

    from tools.data import default_data_dir

    news_only = "--news-only" in sys.argv[2:]
    report = build_figurative_head(default_data_dir(), Path(sys.argv[1]), complaints=not news_only)
    print(json.dumps(report, indent=1))
