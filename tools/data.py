"""Where the offline tools find the public datasets they train and evaluate on."""

from __future__ import annotations

import os
from pathlib import Path

from shared.errors import ConfigError


def default_data_dir() -> Path:
    """Return the dataset directory: $CRISISWATCH_DATA_DIR, else `shared/data` beside the
    checkout (the development layout)."""
    beside_checkout = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return Path(os.environ.get("CRISISWATCH_DATA_DIR", str(beside_checkout)))


def dataset_dir(name: str) -> Path:
    """The folder of dataset `name`; `ConfigError` naming where it was looked for."""
    path = default_data_dir() / name
    if not path.is_dir():
        raise ConfigError(
            f"dataset {name!r} not found at {path}; set CRISISWATCH_DATA_DIR to the folder "
            "that holds the datasets (see docs/ and the model card for their sources)"
        )
    return path
