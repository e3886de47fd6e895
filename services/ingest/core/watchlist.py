"""Brand watchlists: YAML files and stored watchlists, merged, reloaded without a restart.

Two places hold watchlists: the YAML files of `CRISISWATCH_WATCHLIST_DIR` (the seed and the
defaults, kept in version control) and the `watchlists` table that `PUT /v1/watchlists`
writes. The stored watchlist of a brand wins over its file; a brand in only one of them is
used from there, so deleting a stored watchlist falls back to the brand's file, if any.
Both are polled every `watchlist_poll_s` seconds: a change is matched within that bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Protocol

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from shared.errors import ConfigError
from shared.resilience import DB_ERRORS, wait_or_stop

log = logging.getLogger(__name__)

# What a failed read of the stored watchlists raises: the last good ones stay in use.
_READ_ERRORS: tuple[type[Exception], ...] = (OSError, *DB_ERRORS)

Term = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Market = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class XSubscription(_Strict):
    """Filtered-stream rules: free queries (X rule syntax) and hashtags."""

    queries: list[Term] = Field(default_factory=list)
    hashtags: list[Term] = Field(default_factory=list)


class RedditSubscription(_Strict):
    """Subreddits whose new posts are polled, and site-wide search queries."""

    subreddits: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{2,21}$")]] = Field(
        default_factory=list
    )
    queries: list[Term] = Field(default_factory=list)


class MastodonSubscription(_Strict):
    """Hashtag streams, and whether to follow the (instance) public stream."""

    hashtags: list[Term] = Field(default_factory=list)
    public: bool = False


class BlueskySubscription(_Strict):
    """Match this brand against the Jetstream firehose of posts."""

    enabled: bool = False


class RssSubscription(_Strict):
    """News feeds (RSS or Atom URLs)."""

    feeds: list[Annotated[str, StringConstraints(pattern=r"^https?://")]] = Field(
        default_factory=list
    )


class MetaSubscription(_Strict):
    """Facebook Page ids and Instagram account ids owned by the brand (webhooks)."""

    pages: list[Term] = Field(default_factory=list)
    instagram_accounts: list[Term] = Field(default_factory=list)


class Subscriptions(_Strict):
    """What each connector follows for this brand."""

    x: XSubscription = Field(default_factory=XSubscription)
    reddit: RedditSubscription = Field(default_factory=RedditSubscription)
    mastodon: MastodonSubscription = Field(default_factory=MastodonSubscription)
    bluesky: BlueskySubscription = Field(default_factory=BlueskySubscription)
    rss: RssSubscription = Field(default_factory=RssSubscription)
    meta: MetaSubscription = Field(default_factory=MetaSubscription)


class Watchlist(_Strict):
    """One brand: the names that identify it, what to ignore, and where to listen."""

    brand: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    display_name: Term | None = None
    aliases: list[Term] = Field(default_factory=list, description="names in any script")
    keywords: list[Term] = Field(default_factory=list, description="products, slogans, people")
    exclusions: list[Term] = Field(default_factory=list, description="phrases that are not us")
    competitors: list[
        Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    ] = Field(
        default_factory=list,
        description="brand keys of competitors; one without a watchlist of its own is matched "
        "by this name and counted for share of voice, never alerted on",
    )
    watch_competitors: bool = Field(
        default=False,
        description="watch the crises of the competitors (those without a watchlist): their "
        "spikes open low-severity (SEV4) `competitor` incidents instead of being ignored",
    )
    markets: list[Market] = Field(
        default_factory=list, description="countries (ISO 3166-1 alpha-2) the brand watches"
    )
    languages: list[Language] = Field(default_factory=list)
    language_markets: dict[Language, list[Market]] = Field(
        default_factory=dict,
        description="the market(s) of a mention written in a language, e.g. {de: [DE]}; a "
        "mention whose source names its country keeps that country",
    )
    sources: Subscriptions = Field(default_factory=Subscriptions)

    @model_validator(mode="after")
    def _mapped_markets_are_watched(self) -> Watchlist:
        unknown = sorted(
            {m for ms in self.language_markets.values() for m in ms} - set(self.markets)
        )
        if self.markets and unknown:
            raise ValueError(f"language_markets names markets not in markets: {unknown}")
        return self

    def markets_of(self, language: str | None) -> list[str]:
        """The markets of a mention in `language`: mapped, else the only market, else none."""
        if language and language in self.language_markets:
            return list(self.language_markets[language])
        return list(self.markets) if len(self.markets) == 1 else []

    @property
    def terms(self) -> list[str]:
        """Every phrase that counts as a mention of the brand."""
        names = [self.brand, *([self.display_name] if self.display_name else [])]
        return list(dict.fromkeys([*names, *self.aliases, *self.keywords]))


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


def parse_watchlist(text: str, *, origin: str) -> Watchlist:
    """Validate one YAML document; raise `ConfigError` naming the file and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML: {exc}") from exc
    try:
        return Watchlist.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_field_path(e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigError(f"{origin}: {problems}") from exc


def load_watchlists(directory: Path) -> list[Watchlist]:
    """Load every `*.yaml`/`*.yml` file of `directory`; brands must be unique."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: watchlist directory does not exist")
    result: list[Watchlist] = []
    owners: dict[str, Path] = {}
    for path in _files(directory):
        watchlist = parse_watchlist(path.read_text(encoding="utf-8"), origin=str(path))
        if watchlist.brand in owners:
            first = owners[watchlist.brand]
            raise ConfigError(f"{path}: brand: {watchlist.brand!r} is already defined in {first}")
        owners[watchlist.brand] = path
        result.append(watchlist)
    return result


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in _files(directory))


class StoredWatchlists(Protocol):
    """Where the API stores watchlists (the `watchlists` table)."""

    async def fingerprint(self) -> str:
        """A value that changes whenever a stored watchlist is created, replaced or deleted."""
        ...

    async def definitions(self) -> list[tuple[str, dict[str, Any]]]:
        """Every stored (brand, definition)."""
        ...


def merge(files: Iterable[Watchlist], stored: Iterable[Watchlist]) -> list[Watchlist]:
    """The watchlists in effect: a brand's stored watchlist replaces its file (by brand order)."""
    by_brand = {w.brand: w for w in files}
    by_brand.update((w.brand, w) for w in stored)
    return [by_brand[b] for b in sorted(by_brand)]


def parse_stored(rows: Iterable[tuple[str, dict[str, Any]]]) -> list[Watchlist]:
    """Validate stored definitions; one that no longer validates is logged and left out."""
    out: list[Watchlist] = []
    for brand, definition in rows:
        try:
            watchlist = Watchlist.model_validate(definition)
        except ValidationError as exc:
            log.error("stored watchlist %r refused: %s", brand, exc.errors(include_url=False))
            continue
        if watchlist.brand != brand:
            log.error("stored watchlist %r names brand %r: refused", brand, watchlist.brand)
            continue
        out.append(watchlist)
    return out


class WatchlistStore:
    """The current watchlists; `reload()` swaps them atomically, keeping the old on error."""

    def __init__(
        self,
        directory: Path | None,
        *,
        poll_s: float = 5.0,
        stored: StoredWatchlists | None = None,
    ) -> None:
        self._directory = directory
        self._poll_s = poll_s
        self._stored_source = stored
        self._files: list[Watchlist] = []
        self._stored: list[Watchlist] = []
        self._stored_fingerprint: str | None = None
        self._watchlists: list[Watchlist] = []
        self._fingerprint: tuple[tuple[str, int, int], ...] = ()
        self._listeners: list[asyncio.Event] = []
        self.version = 0

    def use_stored(self, stored: StoredWatchlists | None) -> None:
        """Read stored watchlists from `stored` too (set before `watch` starts)."""
        self._stored_source = stored

    @classmethod
    def of(cls, watchlists: list[Watchlist]) -> WatchlistStore:
        """A fixed store (tests, replay) that never reads files."""
        store = cls(None)
        store._files = list(watchlists)
        store._watchlists = list(watchlists)
        store.version = 1
        return store

    @property
    def configured(self) -> bool:
        """True when at least one watchlist is loaded."""
        return bool(self._watchlists)

    @property
    def watchlists(self) -> list[Watchlist]:
        """The loaded watchlists (a snapshot)."""
        return list(self._watchlists)

    def load(self) -> None:
        """Load the files at start-up: an invalid file raises `ConfigError` (file + field)."""
        if self._directory is None:
            return
        self._fingerprint = _fingerprint(self._directory) if self._directory.is_dir() else ()
        self._files = load_watchlists(self._directory)
        self._swap()

    def _swap(self) -> None:
        self._watchlists = merge(self._files, self._stored)
        self.version += 1

    def reload(self) -> bool:
        """Re-read the files; on error keep the previous watchlists and re-raise."""
        if self._directory is None:
            return False
        previous = self._files
        try:
            self.load()
        except ConfigError:
            self._files = previous
            raise
        self._changed("files")
        return True

    def _changed(self, what: str) -> None:
        for event in self._listeners:
            event.set()
        log.info("watchlists reloaded (%s): %d brands", what, len(self._watchlists))

    async def refresh_stored(self) -> bool:
        """Re-read the stored watchlists when they changed; True when they did.

        Database errors propagate: the caller keeps serving the last good watchlists.
        """
        source = self._stored_source
        if source is None:
            return False
        fingerprint = await source.fingerprint()
        if fingerprint == self._stored_fingerprint:
            return False
        self._stored = parse_stored(await source.definitions())
        self._stored_fingerprint = fingerprint
        self._swap()
        self._changed("database")
        return True

    def changed(self) -> asyncio.Event:
        """An event set at every successful reload (connectors re-read subscriptions)."""
        event = asyncio.Event()
        self._listeners.append(event)
        return event

    async def watch(
        self, stop: asyncio.Event, *, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        """Poll the files (modification times) and the stored watchlists (a fingerprint of
        the table) and reload what changed, until `stop` is set.

        `on_error(exc)` is told about a database error; the last good watchlists stay.
        """
        if self._directory is None and self._stored_source is None:
            return
        while not stop.is_set():
            if await wait_or_stop(stop, self._poll_s):
                continue
            self._poll_files()
            if self._stored_source is None:
                continue
            try:
                await self.refresh_stored()
            except _READ_ERRORS as exc:
                log.warning("stored watchlists not reloaded: %s", exc)
                if on_error is not None:
                    on_error(exc)

    def _poll_files(self) -> None:
        directory = self._directory
        if directory is None or not directory.is_dir():
            return
        if _fingerprint(directory) == self._fingerprint:
            return
        try:
            self.reload()
        except ConfigError as exc:
            # Keep serving with the last good watchlists; the operator sees why.
            log.error("watchlist reload refused: %s", exc)
