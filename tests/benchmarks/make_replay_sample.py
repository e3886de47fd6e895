"""Write a sample replay file: `python -m tests.benchmarks.make_replay_sample OUT [N]`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

TEXTS = (
    "My new {b} kettle caught fire this morning. Never again.",
    "Loving the {b} update, battery life is great",
    "{b} support took three days to answer, not impressed #fail",
    "我的{b}手机坏了，客服也不回复",
    "Anyone else seeing {b} outages in Berlin?",
)


def write_sample(path: Path, count: int, *, brands: tuple[str, ...] = ("acme", "globex")) -> Path:
    """Write `count` JSONL mentions, one second apart, cycling through `brands`."""
    start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    with path.open("wb") as fh:
        for i in range(count):
            brand = brands[i % len(brands)]
            record = {
                "platform": ("x", "reddit", "mastodon", "bluesky")[i % 4],
                "external_id": f"sample-{i}",
                "author": f"user{i % 5000}",
                "author_reach": i % 10_000,
                "text": TEXTS[i % len(TEXTS)].format(b=brand),
                "language": "zh" if i % len(TEXTS) == 3 else "en",
                "created_at": (start + timedelta(seconds=i)).isoformat(),
                "engagement": {"likes": i % 50, "shares": i % 7, "replies": i % 3},
                "brands": [brand],
            }
            fh.write(orjson.dumps(record) + b"\n")
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1])
    write_sample(out, int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    print(out)
