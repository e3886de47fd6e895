"""Any Hugging Face encoder (a model id or a local directory) as a sentence encoder.

Mean pooling over the last hidden states, masked by attention, then unit length: what
sentence-transformers models such as all-MiniLM or multilingual-e5 were trained for. torch
and transformers are imported on `load()` only, so a worker that never configures such a
model never pays for them. Runs on the GPU when one is present.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from services.sentiment.encoders.base import normalize_rows
from services.sentiment.scorers.transformer import InferenceOptions, load_pretrained


class HuggingFaceEncoder:
    """A transformer encoder with mean pooling; `languages` None means every language."""

    def __init__(
        self,
        model: str,
        *,
        options: InferenceOptions | None = None,
        languages: Sequence[str] | None = None,
        prefix: str = "",
    ) -> None:
        self.model_ref = model
        self.name = f"hf:{model.rstrip('/').rsplit('/', 1)[-1]}"
        self.options = options or InferenceOptions()
        self.languages = frozenset(languages) if languages is not None else None
        self.prefix = prefix  # e.g. "query: " for the e5 family
        self.dim = 0
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None
        self._device = "cpu"

    def supports(self, language: str) -> bool:
        """True for the configured languages, or for every language when none are set."""
        return self.languages is None or language in self.languages

    def load(self) -> None:
        """Load tokenizer and weights (idempotent, thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModel

            tokenizer, model, device = load_pretrained(self.model_ref, self.options, AutoModel)
            model.to(device)
            self.dim = int(model.config.hidden_size)
            self._device = device
            self._tokenizer = tokenizer
            self._model = model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts into unit-length rows, batching by length to keep padding small."""
        self.load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = self.options.batch_size
        with torch.inference_mode():
            for start in range(0, len(order), size):
                idx = order[start : start + size]
                enc = self._tokenizer(
                    [self.prefix + (texts[i] or " ") for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.options.max_length,
                    return_tensors="pt",
                ).to(self._device)
                hidden = self._model(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                out[idx] = pooled.cpu().numpy()
        return normalize_rows(out)
