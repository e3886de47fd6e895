"""The model under training: a classifier over the cut encoder, and its cheap forward passes.

Training runs the frozen lower layers once over every text (`encode_lower`) and then
fine-tunes the last layer for the [CLS] position only (`cls_logits`): in a transformer layer
the [CLS] output depends on the other positions only through their keys and values, so this
is exact and ~10x cheaper than running the whole layer.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from services.sentiment.model.assemble import ModelBuildError, encoder_config, encoder_state
from services.sentiment.scorers.transformer import skip_gpu_kernel_compiler


def fresh_model(num_layers: int, labels: Sequence[str], seed: int) -> Any:
    """A classifier of `labels` over the encoder's first `num_layers` layers, head untrained."""
    skip_gpu_kernel_compiler()  # training here runs on the CPU
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification(encoder_config(num_layers, labels))
    missing, _ = model.load_state_dict(encoder_state(num_layers), strict=False)
    if any(not k.startswith("classifier.") for k in missing):
        raise ModelBuildError(f"encoder weights incomplete: {missing}")
    return model


def trained_keys(model: Any) -> list[str]:
    """Names of the tensors training changes (and `heads/` ships): last layer, pooler, head."""
    last = model.config.num_hidden_layers - 1
    prefixes = (f"bert.encoder.layer.{last}.", "bert.pooler.", "classifier.")
    return [k for k in model.state_dict() if k.startswith(prefixes)]


def cls_logits(model: Any, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits from the last encoder layer evaluated at [CLS] only, given its input states."""
    layer = model.bert.encoder.layer[-1]
    attn = layer.attention.self
    heads = model.config.num_attention_heads
    batch, length, width = hidden.shape
    size = width // heads
    cls = hidden[:, :1]
    q = attn.query(cls).view(batch, 1, heads, size).transpose(1, 2)
    k = attn.key(hidden).view(batch, length, heads, size).transpose(1, 2)
    v = attn.value(hidden).view(batch, length, heads, size).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(size)
    scores = scores.masked_fill(~mask[:, None, None, :].bool(), torch.finfo(scores.dtype).min)
    probs = F.dropout(scores.softmax(-1), p=0.1, training=model.training)
    context = (probs @ v).transpose(1, 2).reshape(batch, 1, width)
    out = layer.attention.output
    a = out.LayerNorm(out.dropout(out.dense(context)) + cls)
    ffn = layer.output
    h = ffn.LayerNorm(ffn.dropout(ffn.dense(layer.intermediate(a))) + a)
    pooled = model.bert.pooler(h)
    return model.classifier(model.dropout(pooled))  # type: ignore[no-any-return]


@dataclass
class Features:
    """Inputs of the last encoder layer, one variable-length fp16 array per text."""

    hidden: list[np.ndarray]

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad the chosen texts to a (batch, length, width) tensor and a mask."""
        longest = max(self.hidden[i].shape[0] for i in idx)
        width = self.hidden[idx[0]].shape[1]
        x = np.zeros((len(idx), longest, width), dtype=np.float32)
        mask = np.zeros((len(idx), longest), dtype=np.int64)
        for row, i in enumerate(idx):
            n = self.hidden[i].shape[0]
            x[row, :n] = self.hidden[i]
            mask[row, :n] = 1
        return torch.from_numpy(x), torch.from_numpy(mask)


def encode_lower(
    model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int, batch_size: int = 64
) -> Features:
    """Run the frozen layers below the last one over `texts`."""
    hidden: list[np.ndarray] = [np.empty(0)] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    lower = copy.deepcopy(model.bert)
    lower.encoder.layer = lower.encoder.layer[:-1]
    lower.config.num_hidden_layers -= 1
    lower.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            h = lower(**enc, output_hidden_states=True).hidden_states[-1]
            lengths = enc["attention_mask"].sum(1).tolist()
            for row, i in enumerate(idx):
                hidden[i] = h[row, : lengths[row]].to(torch.float16).numpy()
    return Features(hidden)


def model_logits(
    model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int, batch_size: int = 64
) -> np.ndarray:
    """Return the logits of the full Hugging Face forward pass for `texts`."""
    out = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            out.append(model(**enc).logits.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.num_labels))
