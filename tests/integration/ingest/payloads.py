"""Platform payloads the ingest connector tests serve from their local fake servers."""

from __future__ import annotations

from typing import Any


def reddit_post(n: int, text: str) -> dict[str, Any]:
    """Post `n` of r/acmetest as Reddit's listing JSON has it."""
    return {
        "kind": "t3",
        "data": {
            "name": f"t3_{n}",
            "id": str(n),
            "title": text,
            "selftext": "",
            "author": f"user{n}",
            "author_fullname": f"t2_{n}",
            "created_utc": 1_764_000_000 + n,
            "permalink": f"/r/acmetest/comments/{n}/",
            "subreddit": "acmetest",
            "score": n,
            "num_comments": 1,
            "edited": False,
        },
    }


def mastodon_status(n: int, text: str, **extra: Any) -> dict[str, Any]:
    """Status `n` as Mastodon's API has it; `extra` overrides fields."""
    return {
        "id": str(100 + n),
        "uri": f"https://m.example/users/u/statuses/{100 + n}",
        "url": f"https://m.example/@u/{100 + n}",
        "created_at": "2026-11-25T10:00:00.000Z",
        "content": f"<p>{text}</p>",
        "language": "en",
        "favourites_count": n,
        "reblogs_count": 0,
        "replies_count": 0,
        "tags": [{"name": "acme"}],
        "in_reply_to_id": None,
        "edited_at": None,
        "spoiler_text": "",
        "reblog": None,
        "account": {"id": "1", "acct": "u", "url": "https://m.example/@u", "followers_count": 42},
        **extra,
    }
