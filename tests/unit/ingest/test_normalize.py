"""Normalisation: one Mention shape, invariants under arbitrary Unicode, platform mappings."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.core.normalize import (
    MentionIn,
    clean_text,
    html_to_text,
    language_tag,
    to_mention,
)
from services.ingest.core.watchlist import Watchlist
from services.ingest.sources.jetstream import post_fields
from services.ingest.sources.mastodon import status_fields
from services.ingest.sources.reddit import post_fields as reddit_fields
from services.ingest.sources.x_stream import rules_for, tweet_fields
from shared.schemas import Mention

_CONTROL = {chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32), *range(127, 160)]}


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=100, max_value=500))
def test_clean_text_invariants(text: str, cap: int) -> None:
    cleaned, truncated = clean_text(text, cap)
    assert len(cleaned) <= cap
    assert unicodedata.is_normalized("NFC", cleaned)
    assert not (_CONTROL & set(cleaned))
    assert not truncated or len(cleaned) == cap or len(cleaned) >= cap - 3


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1), st.text(min_size=1, max_size=50))
def test_to_mention_never_raises_unexpectedly(text: str, author: str) -> None:
    try:
        item = MentionIn(
            platform="x",
            external_id="1",
            author=author,
            text=text,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        mention = to_mention(
            item, brands=["acme"], secret=b"k" * 16, keep_handles=False, max_chars=200
        )
    except ValueError:
        return  # pydantic ValidationError is a ValueError: a reason, never a crash
    assert Mention.model_validate_json(mention.model_dump_json()) == mention
    assert len(mention.text) <= 200


def test_helpers() -> None:
    assert html_to_text("<p>Hi <a href='x'>#acme</a> &amp; co</p><p>2</p>") == "Hi #acme & co\n2"
    assert language_tag("en-US") == "en" and language_tag(None) is None


def test_mastodon_status_edit() -> None:
    status = {
        "id": "1",
        "uri": "https://m.example/users/a/statuses/1",
        "url": "https://m.example/@a/1",
        "created_at": "2026-11-25T10:00:00.000Z",
        "content": "<p>Acme broke</p>",
        "language": "en",
        "favourites_count": 3,
        "reblogs_count": 1,
        "replies_count": 0,
        "tags": [{"name": "acme"}],
        "account": {"acct": "a", "url": "https://m.example/@a", "followers_count": 10},
        "edited_at": "2026-11-25T10:05:00.000Z",
    }
    fields = status_fields(status)
    assert fields["kind"] == "updated" and fields["text"] == "Acme broke"
    assert fields["engagement"] == {"likes": 3, "shares": 1, "replies": 0}


def test_jetstream_and_x_and_reddit_shapes() -> None:
    commit = {
        "did": "did:plc:abc",
        "time_us": 1,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": "3k",
            "record": {
                "text": "acme",
                "createdAt": "2026-11-25T10:00:00Z",
                "langs": ["ja"],
                "reply": {"parent": {"uri": "at://p"}, "root": {"uri": "at://r"}},
            },
        },
    }
    fields = post_fields(commit)
    assert fields is not None and fields["in_reply_to"] == "at://p"
    assert fields["external_id"] == "at://did:plc:abc/app.bsky.feed.post/3k"
    commit["commit"]["operation"] = "delete"
    assert post_fields(commit) is None
    tweet = {
        "data": {
            "id": "2",
            "text": "acme!",
            "author_id": "9",
            "created_at": "2026-11-25T10:00:00.000Z",
            "edit_history_tweet_ids": ["1", "2"],
            "public_metrics": {"like_count": 4, "retweet_count": 1, "quote_count": 1},
        },
        "includes": {"users": [{"id": "9", "public_metrics": {"followers_count": 50}}]},
        "matching_rules": [{"id": "r1", "tag": "acme"}],
    }
    x = tweet_fields(tweet)
    assert x is not None and x["external_id"] == "1" and x["kind"] == "updated"
    assert x["author_reach"] == 50 and x["engagement"]["shares"] == 2
    assert x["market"] is None
    tweet["data"]["geo"] = {"place_id": "p1"}
    tweet["includes"]["places"] = [{"id": "p1", "country_code": "de"}]
    placed = tweet_fields(tweet)
    assert placed is not None and placed["market"] == "DE"  # the tweet's tagged country
    link = {
        "kind": "t3",
        "data": {
            "name": "t3_a",
            "title": "Acme",
            "selftext": "",
            "author_fullname": "t2_x",
            "created_utc": 1.7e9,
            "permalink": "/r/x/comments/a/",
            "score": -3,
        },
    }
    r = reddit_fields(link)
    assert r is not None and r["engagement"]["likes"] == 0


def test_x_rules_cover_terms_and_hashtags() -> None:
    watchlist = Watchlist(
        brand="acme",
        aliases=["Acme Corp"],
        sources={"x": {"hashtags": ["acmefail"], "queries": ["acme lang:en"]}},
    )
    rules = rules_for(watchlist)
    assert rules[0] == '(acme OR "Acme Corp" OR #acmefail) -is:retweet'
    assert rules[-1] == "acme lang:en"
