"""64-bit keys of (rollup row, author) pairs, for exact distinct-author counts.

The sentiment store records each author once per minute rollup row in
`mention_rollup_authors`; a pair inserted for the first time adds one distinct author.
Storing a 64-bit digest of the pair instead of its six text columns keeps that table's
index narrow. The same digest is defined in SQL (`crisiswatch_author_key`, migration
0005), so PostgreSQL can rebuild the table from the stored mentions.

With 64 bits, two pairs of one minute share a key with odds of about n^2 / 2^65: about
one in ten million for 300,000 pairs in a minute.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from datetime import datetime

SEPARATOR = "\x1f"  # ASCII unit separator: absent from brands, topics, platforms, ids


def author_key(
    brand: str, minute: datetime, topic: str, platform: str, language: str, author_id: str
) -> int:
    """Signed 64-bit key of one author in one rollup row (first 8 bytes of an MD5)."""
    return author_keys([(brand, topic)], int(minute.timestamp()), platform, language, author_id)[0]


_first_int64 = struct.Struct(">q").unpack_from


def author_keys(
    rows: Iterable[tuple[str, str]],
    minute_epoch: int,
    platform: str,
    language: str,
    author_id: str,
) -> tuple[int, ...]:
    """`author_key` for each (brand, topic) in `rows`, with the rest of the pair shared."""
    tail = SEPARATOR.join(("", platform, language, author_id, str(minute_epoch)))
    return tuple(
        _first_int64(
            hashlib.md5(f"{brand}{SEPARATOR}{topic}{tail}".encode(), usedforsecurity=False).digest()
        )[0]
        for brand, topic in rows
    )
