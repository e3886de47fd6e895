"""Training and evaluation data of the default models: GoEmotions and TweetEval splits."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.sentiment.model.assemble import Kind
from shared.schemas import EMOTIONS, SENTIMENT_LABELS

# GoEmotions ekman label ids (labels.txt order) and group ids.
_EKMAN = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
_GROUP = {1: "negative", 2: "neutral", 3: "positive"}  # 0 is `ambiguous`: dropped
_TWEETEVAL_EMOTION = {0: "anger", 1: "joy", 3: "sadness"}  # 2 `optimism` has no counterpart


@dataclass
class Split:
    """Texts with labels (indices into the task's label tuple) and per-example weights."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def add(self, texts: Sequence[str], labels: Sequence[int], weight: float = 1.0) -> None:
        """Append examples with one weight."""
        self.texts.extend(texts)
        self.labels.extend(labels)
        self.weights.extend([weight] * len(texts))


def _goemotions(
    path: Path, names: dict[int, str], labels: Sequence[str]
) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    ys: list[int] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text, ids, _ = line.split("\t")
        parts = {int(i) for i in ids.split(",")}
        # Single-label comments only: multi-label ones have no one right answer here.
        if len(parts) == 1 and (name := names.get(parts.pop())) is not None:
            texts.append(text)
            ys.append(labels.index(name))
    return texts, ys


def _tweeteval(
    folder: Path, split: str, names: dict[int, str], labels: Sequence[str]
) -> tuple[list[str], list[int]]:
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    raw = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    keep = [
        (t, labels.index(names[int(y)])) for t, y in zip(texts, raw, strict=True) if int(y) in names
    ]
    return [t for t, _ in keep], [y for _, y in keep]


def load_splits(kind: Kind, data_dir: Path, *, seed: int = 0) -> tuple[Split, dict[str, Split]]:
    """Return the training split and the named held-out evaluation splits for `kind`."""
    train = Split()
    evals: dict[str, Split] = {}
    if kind == "sentiment":
        labels: Sequence[str] = SENTIMENT_LABELS
        g = data_dir / "goemotions" / "group"
        train.add(*_goemotions(g / "train.tsv", _GROUP, labels))
        evals["goemotions_group_dev"] = Split()
        evals["goemotions_group_dev"].add(*_goemotions(g / "dev.tsv", _GROUP, labels))
        te = data_dir / "tweeteval" / "sentiment"
        texts, ys = _tweeteval(te, "val", dict(enumerate(labels)), labels)
        # Half of TweetEval val trains (tweets are the product's main domain), the other
        # half is held out; the split is fixed by the seed.
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        half = len(order) // 2
        train.add([texts[i] for i in order[:half]], [ys[i] for i in order[:half]], weight=4.0)
        evals["tweeteval_sentiment_val_heldout"] = Split()
        evals["tweeteval_sentiment_val_heldout"].add(
            [texts[i] for i in order[half:]], [ys[i] for i in order[half:]]
        )
    else:
        labels = EMOTIONS
        names = {i: name for i, name in enumerate(_EKMAN)}
        e = data_dir / "goemotions" / "ekman"
        train.add(*_goemotions(e / "train.tsv", names, labels))
        evals["goemotions_ekman_dev"] = Split()
        evals["goemotions_ekman_dev"].add(*_goemotions(e / "dev.tsv", names, labels))
        te = data_dir / "tweeteval" / "emotion"
        train.add(*_tweeteval(te, "train", _TWEETEVAL_EMOTION, labels), weight=2.0)
        evals["tweeteval_emotion_val"] = Split()
        evals["tweeteval_emotion_val"].add(*_tweeteval(te, "val", _TWEETEVAL_EMOTION, labels))
    return train, evals


def task_labels(kind: Kind) -> tuple[str, ...]:
    """Return the label order of a task's classifier."""
    return tuple(str(x) for x in SENTIMENT_LABELS) if kind == "sentiment" else EMOTIONS
