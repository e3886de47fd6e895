"""Training and validation data of the model tier's heads (multilingual sentiment, emotion)."""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from tools.train.datasets import _EKMAN, _TWEETEVAL_EMOTION

# UMSAB file stem -> ISO 639-1 code.
UMSAB_LANGUAGES = {
    "arabic": "ar", "english": "en", "french": "fr", "german": "de", "hindi": "hi",
    "italian": "it", "portuguese": "pt", "spanish": "es",
}  # fmt: skip
# The headline average: the seven UMSAB languages a model covers.
HEADLINE_LANGUAGES = ("es", "pt", "fr", "de", "it", "ar", "en")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass
class Labelled:
    """Texts with their language codes and string labels."""

    texts: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def add(self, texts: list[str], language: str, labels: list[str], repeat: int = 1) -> None:
        """Append examples of one language (`repeat` > 1 weighs them by duplication)."""
        for _ in range(repeat):
            self.texts += texts
            self.languages += [language] * len(texts)
            self.labels += labels

    def subset(self, keep: list[int]) -> Labelled:
        """The examples at the given indices."""
        return Labelled(
            [self.texts[i] for i in keep],
            [self.languages[i] for i in keep],
            [self.labels[i] for i in keep],
        )

    def __len__(self) -> int:
        return len(self.texts)


def unescape(text: str) -> str:
    """UMSAB keeps some characters as literal `\\uXXXX`; restore them."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def umsab(data_dir: Path, split: str, language: str) -> Labelled:
    """One UMSAB file (`split` is train or val) as labelled texts."""
    stem = next(k for k, v in UMSAB_LANGUAGES.items() if v == language)
    out = Labelled()
    with (data_dir / "umsab" / f"{stem}_{split}.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out.add([unescape(r["text"]) for r in rows], language, [r["label"] for r in rows])
    return out


def tweeteval_sentiment_val(data_dir: Path) -> Labelled:
    """TweetEval sentiment validation tweets (English)."""
    folder = data_dir / "tweeteval" / "sentiment"
    names = ("negative", "neutral", "positive")
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [names[int(y)] for y in (folder / "val_labels.txt").read_text().split()]
    out = Labelled()
    out.add(texts, "en", labels)
    return out


def emotion_sets(data_dir: Path) -> tuple[Labelled, dict[str, Labelled]]:
    """Emotion training data (GoEmotions ekman train, TweetEval emotion train, weight 3)
    and the validation sets (GoEmotions ekman dev, TweetEval emotion val)."""
    train, evals = (
        Labelled(),
        {"goemotions_ekman_dev": Labelled(), "tweeteval_emotion_val": Labelled()},
    )
    for split, target in (("train", train), ("dev", evals["goemotions_ekman_dev"])):
        texts, labels = [], []
        for line in (
            (data_dir / "goemotions" / "ekman" / f"{split}.tsv")
            .read_text(encoding="utf-8")
            .splitlines()
        ):
            text, ids, _ = line.split("\t")
            parts = ids.split(",")
            if len(parts) == 1:  # single-label comments only
                texts.append(text)
                labels.append(_EKMAN[int(parts[0])])
        target.add(texts, "en", labels)
    folder = data_dir / "tweeteval" / "emotion"
    for split, target, repeat in (("train", train, 3), ("val", evals["tweeteval_emotion_val"], 1)):
        texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        label_ids = [int(y) for y in (folder / f"{split}_labels.txt").read_text().split()]
        keep = [
            (t, _TWEETEVAL_EMOTION[i])
            for t, i in zip(texts, label_ids, strict=True)
            if i in _TWEETEVAL_EMOTION
        ]
        target.add([t for t, _ in keep], "en", [y for _, y in keep], repeat=repeat)
    return train, evals


def chinese_reviews(data_dir: Path, n: int, *, seed: int = 0) -> Labelled:
    """A seeded sample of the Chinese review sets (binary gold: negative or positive)."""
    rows: list[tuple[str, str]] = []
    for name in ("waimai_10k.csv", "online_shopping_10_cats.csv"):
        with (data_dir / "chinese_reviews" / name).open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                text = (row.get("review") or "").strip()
                if text and row.get("label") in {"0", "1"}:
                    rows.append((text, "positive" if row["label"] == "1" else "negative"))
    random.Random(seed).shuffle(rows)
    out = Labelled()
    out.add([t for t, _ in rows[:n]], "zh", [y for _, y in rows[:n]])
    return out
