"""Watchlist validation and brand matching (Latin word boundaries, CJK substrings, exclusions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.core.matching import Matcher
from services.ingest.core.watchlist import (
    Watchlist,
    WatchlistStore,
    load_watchlists,
    merge,
    parse_stored,
    parse_watchlist,
)
from shared.errors import ConfigError

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "watchlists"


def _matcher(**fields: object) -> Matcher:
    return Matcher([Watchlist.model_validate({"brand": "apple", **fields})])


def test_example_watchlists_are_valid() -> None:
    brands = [w.brand for w in load_watchlists(DEPLOY)]
    assert {"acme", "apple"} <= set(brands)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My Apple watch broke", ["apple"]),
        ("APPLE support is slow", ["apple"]),
        ("pineapple on pizza", []),
        ("apples and oranges", []),
        ("apple pie recipe", []),
        ("apple pie, then my Apple laptop died", ["apple"]),
        ("我的苹果手机坏了", ["apple"]),
        ("苹果汁很好喝", []),
        ("AppleのiPhoneが壊れた", ["apple"]),
        ("ｉＰｈｏｎｅ is great", ["apple"]),
        ("", []),
    ],
)
def test_matching(text: str, expected: list[str]) -> None:
    matcher = _matcher(aliases=["Apple", "iPhone", "苹果"], exclusions=["apple pie", "苹果汁"])
    assert matcher.match(text) == expected


def test_several_brands_in_watchlist_order() -> None:
    matcher = Matcher(
        [
            Watchlist(brand="acme", aliases=["Acme"]),
            Watchlist(brand="globex", aliases=["Globex", "グローベックス"]),
        ]
    )
    assert matcher.match("グローベックス vs ACME") == ["acme", "globex"]


def test_invalid_watchlist_names_file_and_field() -> None:
    with pytest.raises(ConfigError, match=r"acme\.yaml: sources\.reddit\.subreddits\.0"):
        parse_watchlist(
            "brand: acme\nsources: {reddit: {subreddits: ['no spaces']}}", origin="acme.yaml"
        )
    with pytest.raises(ConfigError, match=r"x\.yaml: colour: Extra inputs"):
        parse_watchlist("brand: acme\ncolour: red", origin="x.yaml")
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_watchlist("brand: [", origin="y.yaml")


def test_duplicate_brands_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("brand: acme\n")
    (tmp_path / "b.yml").write_text("brand: acme\n")
    with pytest.raises(ConfigError, match="already defined"):
        load_watchlists(tmp_path)


def test_reload_swaps_and_keeps_last_good_on_error(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text("brand: acme\naliases: [Acme]\n")
    store = WatchlistStore(tmp_path)
    store.load()
    changed = store.changed()
    path.write_text("brand: acme\naliases: [Acme, Roadrunner]\n")
    assert store.reload()
    assert changed.is_set()
    assert "Roadrunner" in store.watchlists[0].aliases
    path.write_text("brand: ACME WRONG\n")
    with pytest.raises(ConfigError, match="brand"):
        store.reload()
    assert store.watchlists[0].brand == "acme"


def test_competitors_without_a_watchlist_are_matched_after_the_brands() -> None:
    matcher = Matcher(
        [
            Watchlist.model_validate({"brand": "acme", "competitors": ["globex", "initech"]}),
            Watchlist.model_validate({"brand": "initech"}),
        ]
    )
    assert matcher.competitors == ["globex"]  # initech has its own watchlist
    assert matcher.match("Globex or Acme or Initech?") == ["acme", "initech", "globex"]
    assert matcher.match("globexcorp") == []


def test_watched_competitors_are_those_a_listing_watchlist_watches() -> None:
    matcher = Matcher(
        [
            Watchlist.model_validate({"brand": "acme", "competitors": ["globex", "hooli"]}),
            Watchlist.model_validate(
                {
                    "brand": "umbrella",
                    "competitors": ["hooli", "initech"],
                    "watch_competitors": True,
                }
            ),
        ]
    )
    assert matcher.competitors == ["globex", "hooli", "initech"]
    assert matcher.watched_competitors == ["hooli", "initech"]


def test_stored_watchlists_win_over_files_per_brand() -> None:
    files = [Watchlist(brand="acme", aliases=["Acme"]), Watchlist(brand="zeta")]
    stored = parse_stored(
        [
            ("acme", {"brand": "acme", "aliases": ["ACME Corp"]}),
            ("bad", {"brand": "bad", "markets": ["germany"]}),  # refused, logged
        ]
    )
    merged = {w.brand: w for w in merge(files, stored)}
    assert set(merged) == {"acme", "zeta"}
    assert merged["acme"].aliases == ["ACME Corp"]
