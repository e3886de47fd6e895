"""The context head: does a post that names a crisis word report a problem, or use it harmlessly?

"The Acme stand was on fire, queue around the block", "this truffle burger is dangerous,
third one this week" and "Acme wins its lawsuit against the counterfeiters" name fire, danger
and a lawsuit; none needs a PR team. The tone gate (`core.context`) cannot tell them from
reports, because the model tier reads the crisis word itself as negative. This head reads the
sentence vector the model tier already computed and gives the probability that the post
reports a problem. It was trained on posts written for it in six languages and the tune rows
of the near-miss corpus (`tools/train/context_head.py`). Its two bars, chosen leaving one
writer out, are stored in the file: below the threshold a post's crisis words are a harmless
use; at or above the rescue bar they are a report even where the tone gate dropped them
(`core.context.judge_by_context`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.sentiment.core.context import HeadCut
from services.sentiment.scorers.heads import Head, HeadFileError

CONTEXT_HEAD = "context.npz"
HARMLESS = "harmless"
REPORT = "report"
LABELS = (HARMLESS, REPORT)


class ContextHead:
    """A trained head over sentence vectors and the report probability below which a
    post's crisis words are taken as harmless."""

    def __init__(self, head: Head, threshold: float, rescue: float | None = None) -> None:
        if tuple(head.labels) != LABELS:
            raise HeadFileError(f"context head labels {head.labels} are not {LABELS}")
        if not 0.0 <= threshold < 1.0:
            raise HeadFileError(f"context head threshold {threshold} is not in [0, 1)")
        if rescue is not None and not threshold < rescue <= 1.0:
            raise HeadFileError(f"context head rescue bar {rescue} is not in ({threshold}, 1]")
        self.head = head
        self.cut = HeadCut(threshold, rescue)
        found = head.meta.get("languages") or ()
        # Languages the head was trained and measured on (empty: any).
        self.languages = (
            frozenset(str(x) for x in found) if isinstance(found, list) else frozenset()
        )

    @property
    def threshold(self) -> float:
        """Report probability below which a post's crisis words are a harmless use."""
        return self.cut.threshold

    @classmethod
    def load(cls, path: Path) -> ContextHead:
        """Read a head file; its threshold is in the file's metadata."""
        return cls.from_head(Head.load(path), source=str(path))

    @classmethod
    def from_head(cls, head: Head, *, source: str = "context head") -> ContextHead:
        """Wrap a trained head whose metadata holds its `threshold` (and optionally its
        `rescue` bar and `languages`)."""
        threshold = head.meta.get("threshold")
        if not isinstance(threshold, int | float):
            raise HeadFileError(f"{source}: no numeric `threshold` in the head's metadata")
        rescue = head.meta.get("rescue")
        if rescue is not None and not isinstance(rescue, int | float):
            raise HeadFileError(f"{source}: `rescue` in the head's metadata is not a number")
        return cls(head, float(threshold), None if rescue is None else float(rescue))

    def supports(self, language: str) -> bool:
        """True when the head may judge a post in `language`."""
        return not self.languages or language.split("-", 1)[0].lower() in self.languages

    @property
    def encoder(self) -> str:
        """Name of the encoder whose vectors the head reads."""
        return self.head.encoder

    def report_probability(self, vectors: np.ndarray) -> np.ndarray:
        """Probability, per row of `vectors`, that the post reports a problem."""
        if len(vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        return self.head.probabilities(np.asarray(vectors, dtype=np.float32))[:, 1]
