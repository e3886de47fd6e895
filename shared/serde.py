"""The one serialisation format of crisiswatch events: JSON encoded with orjson."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from shared.errors import InvalidRecord

ModelT = TypeVar("ModelT", bound=BaseModel)


def dumps(obj: Any) -> bytes:
    """Encode a pydantic model or plain JSON-able value to compact JSON bytes."""
    if isinstance(obj, BaseModel):
        # pydantic-core writes the JSON directly: same bytes as orjson over
        # `model_dump(mode="json")`, without building the intermediate dicts.
        return obj.__pydantic_serializer__.to_json(obj)
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def loads(data: bytes | str) -> Any:
    """Decode JSON bytes; raise `InvalidRecord` with the reason when they are not valid JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord(f"invalid JSON: {exc}") from exc


def decode(model: type[ModelT], data: bytes | str) -> ModelT:
    """Decode JSON bytes into `model`; raise `InvalidRecord` naming the failing fields."""
    # pydantic-core parses and validates in one pass, without an intermediate dict. Its
    # parser accepts NaN and Infinity, which are not JSON: such input, and anything it
    # refuses, takes the orjson path below, which gives the reason.
    if isinstance(data, bytes) and b"NaN" not in data and b"Infinity" not in data:
        try:
            return model.model_validate_json(data)
        except ValidationError:
            pass
    payload = loads(data)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidRecord(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    """Summarise a pydantic validation error in one line: `field: message; ...`."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - len(parts)
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)
