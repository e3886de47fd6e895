"""Hugging Face sequence-classification models as sentiment and emotion scorers.

Any model id or local directory works as long as its `config.id2label` names map onto our
labels (see `sentiment_label_values` and `emotion_label_targets`); a `label_map` argument
covers models with opaque names. The model loads once, lazily on first use or explicitly
through `load()`, so constructing a scorer does no I/O.
"""

from __future__ import annotations

import re
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import ConfigError
from shared.schemas import EMOTIONS, SentimentScore

# Polarity of each recognised raw label name (normalised: lower case, `_`/`-` to space).
_POLARITY: dict[str, float] = {
    "negative": -1.0, "neg": -1.0, "very negative": -1.0, "strongly negative": -1.0,
    "neutral": 0.0, "neu": 0.0, "mixed": 0.0, "none": 0.0,
    "positive": 1.0, "pos": 1.0, "very positive": 1.0, "strongly positive": 1.0,
}  # fmt: skip

# Fine-grained emotion names folded onto the seven of `EMOTIONS`; the GoEmotions
# taxonomy follows the Ekman grouping published with that dataset.
_EMOTION_ALIASES: dict[str, str] = {
    "anger": "anger", "angry": "anger", "annoyance": "anger", "disapproval": "anger",
    "rage": "anger",
    "disgust": "disgust",
    "fear": "fear", "nervousness": "fear", "scared": "fear", "anxiety": "fear",
    "joy": "joy", "happiness": "joy", "happy": "joy", "amusement": "joy", "approval": "joy",
    "excitement": "joy", "gratitude": "joy", "love": "joy", "optimism": "joy",
    "relief": "joy", "pride": "joy", "admiration": "joy", "desire": "joy", "caring": "joy",
    "sadness": "sadness", "sad": "sadness", "disappointment": "sadness",
    "embarrassment": "sadness", "grief": "sadness", "remorse": "sadness",
    "surprise": "surprise", "realization": "surprise", "confusion": "surprise",
    "curiosity": "surprise",
    "neutral": "neutral", "none": "neutral", "others": "neutral", "no emotion": "neutral",
}  # fmt: skip

_GENERIC = re.compile(r"label (\d+)")
_STARS = re.compile(r"([1-5]) stars?")


class ModelLabelError(ConfigError):
    """The model's labels cannot be mapped onto ours."""


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def _ordered_labels(config: Any) -> list[str]:
    id2label = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    if sorted(id2label) != list(range(config.num_labels)):
        raise ModelLabelError(f"config.id2label does not cover 0..{config.num_labels - 1}")
    return [id2label[i] for i in range(config.num_labels)]


def sentiment_label_values(
    labels: Sequence[str], label_map: Mapping[str, str] | None = None
) -> list[float]:
    """Return the polarity (-1..1) of each raw model label, in model order."""
    if label_map:
        polarity = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
        try:
            return [polarity[label_map[raw]] for raw in labels]
        except KeyError as exc:
            raise ModelLabelError(f"label_map does not map {exc} to a sentiment") from exc
    names = [_norm(raw) for raw in labels]
    generic = [_GENERIC.fullmatch(n) for n in names]
    if all(generic):
        # LABEL_0..2 is the cardiffnlp / TweetEval convention: negative, neutral, positive;
        # LABEL_0..1 is negative, positive.
        by_count = {2: [-1.0, 1.0], 3: [-1.0, 0.0, 1.0]}
        ids = [int(m.group(1)) for m in generic if m]
        if len(labels) in by_count and ids == list(range(len(labels))):
            return by_count[len(labels)]
        raise ModelLabelError(f"cannot guess the meaning of generic labels {list(labels)}")
    values = []
    for raw, name in zip(labels, names, strict=True):
        stars = _STARS.fullmatch(name)
        # 1-5 star review models: 1-2 negative, 3 neutral, 4-5 positive.
        value = (int(stars.group(1)) - 3) / 2 if stars else _POLARITY.get(name)
        if value is None:
            raise ModelLabelError(f"unknown sentiment label {raw!r}; pass label_map")
        values.append(value)
    return values


def emotion_label_targets(
    labels: Sequence[str], label_map: Mapping[str, str] | None = None
) -> list[str | None]:
    """Return our emotion for each raw model label (None: no counterpart, ignored)."""
    aliases = {_norm(k): v for k, v in (label_map or {}).items()} or _EMOTION_ALIASES
    targets = [aliases.get(_norm(raw)) for raw in labels]
    for raw, target in zip(labels, targets, strict=True):
        if target is not None and target not in EMOTIONS:
            raise ModelLabelError(f"label {raw!r} maps to {target!r}, not one of {EMOTIONS}")
    if sum(t is not None for t in targets) < 2:
        raise ModelLabelError(f"fewer than two of {list(labels)} map to {EMOTIONS}")
    return targets


@dataclass(frozen=True, slots=True)
class InferenceOptions:
    """How a model runs: lengths, batching, threads, quantisation, device."""

    max_length: int = 128
    batch_size: int = 32
    num_threads: int | None = None
    quantize: bool = False
    device: str | None = None
    local_files_only: bool = False

    def __post_init__(self) -> None:
        if self.max_length < 8 or self.batch_size < 1:
            raise ValueError("max_length must be >= 8 and batch_size >= 1")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError("num_threads must be >= 1")


def skip_gpu_kernel_compiler() -> None:
    """Keep Triton (GPU kernels for torch.compile, unused on a CPU) from being imported.

    Loading a model imports torch's compiler front end, which imports Triton when it is
    installed (it comes with torch's CUDA wheels); Triton's bindings then print hundreds of
    lines of "nanobind: leaked ..." when the process exits. A `None` entry in `sys.modules`
    makes `import triton` fail, so torch reads Triton as absent. Nothing here runs on a GPU.
    """
    if "triton" not in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]


def load_pretrained(
    model_ref: str, options: InferenceOptions, model_class: Any
) -> tuple[Any, Any, str]:
    """Tokenizer, model (eval mode, not yet moved) and device of a Hugging Face model.

    torch and transformers load only here: a process that never loads a model (the
    worker's parent when scoring runs in child processes) stays small.
    """
    import torch

    if options.num_threads is not None:
        torch.set_num_threads(options.num_threads)
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        skip_gpu_kernel_compiler()
    from transformers import AutoTokenizer

    local = options.local_files_only
    tokenizer = AutoTokenizer.from_pretrained(model_ref, local_files_only=local)
    model = model_class.from_pretrained(model_ref, local_files_only=local)
    model.eval()
    return tokenizer, model, device


class SequenceClassifier:
    """One Hugging Face sequence-classification model, loaded once, scoring batches."""

    def __init__(self, model: str | Path, options: InferenceOptions | None = None) -> None:
        self.model_ref = str(model)
        self.options = options or InferenceOptions()
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None
        self.labels: list[str] = []
        self.multi_label = False
        self.device = "cpu"

    @property
    def loaded(self) -> bool:
        """True once the weights are in memory."""
        return self._model is not None

    def load(self) -> None:
        """Load tokenizer and weights (idempotent, thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForSequenceClassification

            opts = self.options
            tokenizer, model, device = load_pretrained(
                self.model_ref, opts, AutoModelForSequenceClassification
            )
            if opts.quantize and device == "cpu":
                # Dynamic int8 on Linear layers: weights int8, activations quantised on the
                # fly. torch marks the eager API deprecated but it is the only CPU int8 path
                # that needs no extra package; silence its warnings, not its errors.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    warnings.simplefilter("ignore", UserWarning)
                    model = torch.ao.quantization.quantize_dynamic(
                        model, {torch.nn.Linear}, dtype=torch.qint8
                    )
            model.to(device)
            self.labels = _ordered_labels(model.config)
            self.multi_label = model.config.problem_type == "multi_label_classification"
            self.device = device
            self._tokenizer = tokenizer
            self._model = model

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, num_labels) array of class probabilities, in input order."""
        self.load()
        n = len(texts)
        out = np.zeros((n, len(self.labels)), dtype=np.float32)
        if n == 0:
            return out
        import torch

        # Sorting by length before batching keeps padding (wasted compute) small.
        order = sorted(range(n), key=lambda i: len(texts[i]))
        size = self.options.batch_size
        with torch.inference_mode():
            for start in range(0, n, size):
                idx = order[start : start + size]
                enc = self._tokenizer(
                    [texts[i] or " " for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.options.max_length,
                    return_tensors="pt",
                ).to(self.device)
                logits = self._model(**enc).logits.float()
                probs = torch.sigmoid(logits) if self.multi_label else logits.softmax(-1)
                out[idx] = probs.cpu().numpy()
        return out


def _short_name(model: str | Path) -> str:
    ref = str(model).rstrip("/")
    return Path(ref).name if Path(ref).exists() else ref


class _TransformerScorer:
    """Shared set-up of the transformer scorers: the model, its name and its languages."""

    def __init__(
        self,
        model: str | Path,
        *,
        options: InferenceOptions | None = None,
        languages: Sequence[str] | None = None,
        label_map: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.classifier = SequenceClassifier(model, options)
        self.name = name or f"transformer:{_short_name(model)}"
        self.languages = frozenset(languages) if languages is not None else None
        self.label_map = dict(label_map) if label_map else None

    def supports(self, language: str) -> bool:
        """True for the configured languages, or for every language when none are set."""
        return self.languages is None or language in self.languages


class TransformerSentimentScorer(_TransformerScorer):
    """Polarity from a sequence-classification model; score = P(pos) - P(neg)."""

    _values: np.ndarray | None = None
    _groups: np.ndarray | None = None

    def load(self) -> None:
        """Load the model and resolve its label mapping."""
        self.classifier.load()
        values = np.asarray(
            sentiment_label_values(self.classifier.labels, self.label_map), dtype=np.float32
        )
        # groups[k, j] = 1 when raw label j belongs to our label k (negative/neutral/positive).
        groups = np.stack([values < 0, values == 0, values > 0]).astype(np.float32)
        self._values, self._groups = values, groups

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """Score a batch of texts."""
        if self._values is None:
            self.load()
        assert self._values is not None and self._groups is not None
        probs = self.classifier.probabilities(texts)
        if self.classifier.multi_label:
            probs = probs / np.clip(probs.sum(1, keepdims=True), 1e-9, None)
        polarity = np.clip(probs @ self._values, -1.0, 1.0)
        grouped = probs @ self._groups.T
        best = grouped.argmax(1)
        labels = ("negative", "neutral", "positive")
        return [
            SentimentScore(
                label=labels[int(k)],
                score=float(p),
                confidence=float(np.clip(g[k], 0.0, 1.0)),
                scorer=self.name,
            )
            for k, p, g in zip(best, polarity, grouped, strict=True)
        ]


class TransformerEmotionScorer(_TransformerScorer):
    """Emotion scores from a sequence-classification model, folded onto `EMOTIONS`."""

    _fold: np.ndarray | None = None

    def load(self) -> None:
        """Load the model and resolve its label mapping."""
        self.classifier.load()
        targets = emotion_label_targets(self.classifier.labels, self.label_map)
        fold = np.zeros((len(targets), len(EMOTIONS)), dtype=np.float32)
        for j, target in enumerate(targets):
            if target is not None:
                fold[j, EMOTIONS.index(target)] = 1.0
        self._fold = fold

    def score(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One mapping per text from each of `EMOTIONS` to a score in [0, 1]."""
        if self._fold is None:
            self.load()
        assert self._fold is not None
        probs = self.classifier.probabilities(texts)
        if self.classifier.multi_label:
            # Independent sigmoids: an emotion is as strong as its strongest raw label.
            folded = (probs[:, :, None] * self._fold[None, :, :]).max(1)
        else:
            # Softmax: mass of raw labels without a counterpart is dropped, the rest rescaled.
            folded = probs @ self._fold
            folded = folded / np.clip(folded.sum(1, keepdims=True), 1e-9, None)
        folded = np.clip(folded, 0.0, 1.0)
        return [{emotion: float(row[k]) for k, emotion in enumerate(EMOTIONS)} for row in folded]


def top_emotion(scores: Mapping[str, float]) -> str:
    """Return the emotion with the highest score (first in `EMOTIONS` order on ties)."""
    return max(EMOTIONS, key=lambda e: scores.get(e, 0.0))
