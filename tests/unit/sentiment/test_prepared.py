"""Array literals sent to PostgreSQL as text must round-trip any string."""

from __future__ import annotations

import re

import pytest

from services.sentiment.prepared import array_literal

_ELEMENT = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _parse(literal: str) -> list[str]:
    """Read back a literal made of quoted elements, as PostgreSQL's array_in does."""
    assert literal.startswith("{") and literal.endswith("}")
    body = literal[1:-1]
    elements = [re.sub(r"\\(.)", r"\1", m.group(1)) for m in _ELEMENT.finditer(body)]
    rebuilt = ",".join(f'"{e}"' for e in (m.group(1) for m in _ELEMENT.finditer(body)))
    assert rebuilt == body, f"unexpected text between elements in {literal!r}"
    return elements


@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ["recall"],
        ["a", "b c", "NULL", "{", "}", ","],
        ['say "no"'],
        ["back\\slash", "plain"],
        ['"', "\\", '\\"', '""'],
        ["émoji 🔥", "中文"],
    ],
)
def test_array_literal_round_trips(values: list[str]) -> None:
    literal = array_literal(values)
    assert _parse(literal) == values


def test_array_literal_quotes_every_element() -> None:
    assert array_literal(["a", "NULL"]) == '{"a","NULL"}'
    assert array_literal(['x"y']) == '{"x\\"y"}'
    assert array_literal([]) == "{}"
