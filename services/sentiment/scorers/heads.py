"""Trained classification heads over sentence vectors, in plain numpy.

A head is a small log-linear ensemble: each member is a softmax classifier (a linear layer,
or one hidden ReLU layer then a linear layer), the head's score for a class is the weighted
sum of the members' log-probabilities plus an offset per class (the prior correction chosen
in training). Weights ship as one `.npz` per head, written by `tools/train/multilingual.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.errors import ConfigError

HEAD_DIR = Path(__file__).resolve().parents[1] / "model" / "heads"


class HeadFileError(ConfigError):
    """A head file is missing or does not fit the encoder."""


@dataclass(frozen=True)
class Member:
    """One softmax classifier: `layers` are (weight, bias) pairs, ReLU between them."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    weight: float

    def log_probabilities(self, x: np.ndarray) -> np.ndarray:
        """Log-softmax of the member's logits for rows `x`."""
        h = x
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                np.maximum(h, 0.0, out=h)
        h = h - h.max(axis=1, keepdims=True)
        return h - np.log(np.exp(h).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class Head:
    """A trained head: labels, the features it expects, members and class offsets."""

    labels: tuple[str, ...]
    encoder: str
    input_dim: int
    members: tuple[Member, ...]
    offset: np.ndarray
    meta: dict[str, object]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Return (n, len(labels)) probabilities: the softmax of the normalised ensemble score."""
        if x.shape[1] != self.input_dim:
            raise HeadFileError(f"head expects {self.input_dim} features, got {x.shape[1]}")
        total = sum(m.weight for m in self.members)
        score = sum(m.weight * m.log_probabilities(x) for m in self.members) + self.offset
        score = np.asarray(score, dtype=np.float64) / total
        score -= score.max(axis=1, keepdims=True)
        p = np.exp(score)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the head as one `.npz` (float16 weights, JSON metadata)."""
        arrays: dict[str, np.ndarray] = {"offset": self.offset.astype(np.float32)}
        spec = []
        for i, member in enumerate(self.members):
            for j, (w, b) in enumerate(member.layers):
                arrays[f"m{i}_w{j}"] = w.astype(np.float16)
                arrays[f"m{i}_b{j}"] = b.astype(np.float32)
            spec.append({"layers": len(member.layers), "weight": member.weight})
        header = {
            "labels": list(self.labels),
            "encoder": self.encoder,
            "input_dim": self.input_dim,
            "members": spec,
            "meta": self.meta,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> Head:
        """Read a head written by `save`."""
        if not path.is_file():
            raise HeadFileError(f"no head file at {path}; `crisiswatch model build` writes it")
        with np.load(path) as data:
            header = json.loads(bytes(data["header"]).decode())
            members = tuple(
                Member(
                    layers=tuple(
                        (data[f"m{i}_w{j}"].astype(np.float32), data[f"m{i}_b{j}"])
                        for j in range(spec["layers"])
                    ),
                    weight=float(spec["weight"]),
                )
                for i, spec in enumerate(header["members"])
            )
            return cls(
                labels=tuple(header["labels"]),
                encoder=str(header["encoder"]),
                input_dim=int(header["input_dim"]),
                members=members,
                offset=data["offset"].astype(np.float32),
                meta=dict(header.get("meta", {})),
            )
