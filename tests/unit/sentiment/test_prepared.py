"""Values sent to PostgreSQL as text (array literals, COPY lines) must round-trip exactly."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from services.sentiment.prepared import array_literal, copy_field, copy_line

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


def _read_copy_field(text: str) -> str | None:
    """Undo COPY text escaping as PostgreSQL does."""
    if text == "\\N":
        return None
    escapes = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    return re.sub(r"\\[\\tnr]", lambda m: escapes[m.group(0)], text)


@pytest.mark.parametrize(
    "record",
    [
        ("plain", None, 3, 1.5, True, False),
        ("tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "\\"),
        (None, None, "\\N", None),
        ("", "  ", "🔥中文", "a\\tb"),
    ],
)
def test_copy_line_reads_back_every_value(record: tuple[object, ...]) -> None:
    line = copy_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    fields = line[:-1].decode().split("\t")
    assert len(fields) == len(record)
    expected = [v if v is None or isinstance(v, str) else copy_field(v) for v in record]
    assert [_read_copy_field(f) for f in fields] == expected


def test_copy_field_formats_non_text_values() -> None:
    when = datetime(2026, 3, 2, 10, 15, 7, 120, tzinfo=UTC)
    assert copy_field(when) == "2026-03-02T10:15:07.000120+00:00"
    assert float(copy_field(0.1 + 0.2)) == 0.1 + 0.2
    assert (copy_field(True), copy_field(False), copy_field(None)) == ("t", "f", "\\N")
    assert copy_field(2**62) == str(2**62)
    with pytest.raises(TypeError):
        copy_field(b"bytes")
