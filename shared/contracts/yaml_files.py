"""Read a packaged or user YAML file into a pydantic model, with one clear error per failure."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_yaml_model(path: Path, model: type[M], error: type[Exception], what: str) -> M:
    """`path` parsed and validated as `model`; `error` says which step failed and why.

    `what` names the file's kind in the message ("topic lexicon", "idiom list").
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path} is not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{path} is not a valid {what}:\n{exc}") from exc
