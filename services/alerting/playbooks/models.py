"""Validated shape of a response playbook (one YAML file per incident category)."""

from __future__ import annotations

import re
import string
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

REQUIRED_LANGUAGES = ("en", "zh", "es")
TEMPLATE_FIELDS = frozenset({"brand"})
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
StepChannel = Literal["slack", "email", "webhook"]


def _slack_only() -> list[StepChannel]:
    return ["slack"]


def parse_duration(value: str | int) -> timedelta:
    """Parse `30m`, `1h`, `2d` (or bare minutes as an int) into a positive timedelta."""
    if isinstance(value, int):
        minutes = value
        delta = timedelta(minutes=minutes)
    else:
        match = _DURATION.match(value.strip())
        if not match:
            raise ValueError(f"duration {value!r} must look like 30m, 1h or 2d")
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if delta <= timedelta(0):
        raise ValueError(f"duration {value!r} must be positive")
    return delta


class PlaybookStep(BaseModel):
    """One action: who owns it, how long after detection it is due, where it is announced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=3, max_length=200)
    owner_role: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    due_after: timedelta
    channels: list[StepChannel] = Field(default_factory=_slack_only)
    description: str = ""

    @field_validator("due_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        if isinstance(value, timedelta):
            return value
        if isinstance(value, str | int) and not isinstance(value, bool):
            return parse_duration(value)
        raise ValueError("due_after must be a duration such as 30m, 1h or 2d")


class Playbook(BaseModel):
    """A named response playbook with ordered steps and holding-statement templates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    title: str = Field(min_length=3)
    category: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=64,
        description="the incident category served: a topic category of the topic contract, "
        "or `generic`",
    )
    steps: list[PlaybookStep] = Field(min_length=1)
    holding_statements: dict[str, str]

    @field_validator("holding_statements")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [lang for lang in REQUIRED_LANGUAGES if lang not in value]
        if missing:
            raise ValueError(f"holding statements missing languages {missing}")
        for lang, template in value.items():
            if not re.match(r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", lang):
                raise ValueError(f"{lang!r} is not a language code like en or zh-Hant")
            try:
                names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            except ValueError as exc:
                raise ValueError(f"holding statement {lang!r}: {exc}") from exc
            unknown = names - TEMPLATE_FIELDS
            if unknown:
                raise ValueError(
                    f"holding statement {lang!r} uses {sorted(unknown)}; "
                    f"only {{{', '.join(sorted(TEMPLATE_FIELDS))}}} is allowed"
                )
        return value

    @model_validator(mode="after")
    def _order(self) -> Playbook:
        dues = [step.due_after for step in self.steps]
        if dues != sorted(dues):
            raise ValueError("steps must be ordered by due_after")
        if dues[0] > timedelta(hours=1):
            raise ValueError("the first step (holding statement) must be due within 1h")
        return self

    def holding_statement(self, language: str, *, brand: str) -> str:
        """Return the holding statement in `language` (English when missing) for `brand`."""
        template = self.holding_statements.get(language) or self.holding_statements["en"]
        return template.format(brand=brand)
