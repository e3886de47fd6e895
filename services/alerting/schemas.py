"""What the alerting API areas (incidents, playbooks, rules, campaigns) share.

A strict input base (unknown fields are a 422, strings are stripped) and the path and query
parameters every area names the same way.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict

Id = Annotated[int, Path(ge=1, le=2**62)]
BrandQ = Annotated[str | None, Query(min_length=1, max_length=64)]


class StrictInput(BaseModel):
    """Base of request bodies: unknown fields are refused, strings stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
