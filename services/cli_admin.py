"""The administration subcommands of `crisiswatch`: API keys, privacy erasure, watchlists
and playbooks import/export, brand digests. Each handler imports its service lazily, so
`crisiswatch --help` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.settings.tree import Settings

CommandFactory = Callable[..., argparse.ArgumentParser]


def add_admin_commands(sub: Any, _command: CommandFactory) -> None:
    """Register the administration subcommands on `sub` (`_command` builds each parser)."""
    apikey = _command(sub, "apikey", help="create, revoke or list API keys")
    apikey.add_argument("action", choices=["create", "revoke", "list"])
    apikey.add_argument("--name", help="create: who or what the key is for")
    apikey.add_argument("--role", choices=["viewer", "responder", "admin", "ingest"])
    apikey.add_argument("--id", type=int, help="revoke: the key id")
    apikey.set_defaults(handler=_apikey)

    privacy = _command(sub, "privacy", help="data-protection operations")
    privacy.add_argument("action", choices=["erase"])
    privacy.add_argument("--author", required=True, help="pseudonymous id (a_...) or raw id")
    privacy.add_argument("--platform", help="platform of a raw author id")
    privacy.set_defaults(handler=_privacy)

    watchlists = _command(
        sub, "watchlists", help="import YAML watchlists into the database, or export them"
    )
    watchlists.add_argument("action", choices=["import", "export"])
    watchlists.add_argument(
        "directory",
        nargs="?",
        help="directory of *.yaml files (default: CRISISWATCH_WATCHLIST_DIR)",
    )
    watchlists.set_defaults(handler=_watchlists)

    playbooks = _command(
        sub, "playbooks", help="import YAML playbooks into the database, or export them"
    )
    playbooks.add_argument("action", choices=["import", "export"])
    playbooks.add_argument(
        "directory", nargs="?", help="directory of *.yaml files (import default: the packaged)"
    )
    playbooks.set_defaults(handler=_playbooks)

    digest = _command(sub, "digest", help="preview a brand digest as HTML, or send one now")
    digest.add_argument("action", nargs="?", choices=["preview", "send"], default="preview")
    digest.add_argument("--brand", required=True)
    digest.add_argument("--period", required=True, help="daily (day) or weekly (week)")
    digest.add_argument("--end", metavar="DATE", help="local day after the period (ISO date)")
    digest.add_argument("--out", metavar="FILE", help="preview: the HTML file to write")
    digest.set_defaults(handler=_digest)


def _apikey(args: argparse.Namespace, settings: Settings) -> int:
    from shared.http.keys import apikey_cli

    return apikey_cli(settings.api, args.action, name=args.name, role=args.role, key_id=args.id)


def _privacy(args: argparse.Namespace, settings: Settings) -> int:
    from services.api.privacy import privacy_erase_cli

    return privacy_erase_cli(settings.ingest, args.author, platform=args.platform)


def _watchlists(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from services.ingest.watchlist_io import watchlists_cli

    directory = Path(args.directory) if args.directory else settings.ingest.watchlist_dir
    return watchlists_cli(settings.ingest, args.action, directory)


def _playbooks(args: argparse.Namespace, settings: Settings) -> int:
    from services.alerting.playbooks.files import playbooks_cli

    return playbooks_cli(settings.common, args.action, args.directory)


def _digest(args: argparse.Namespace, settings: Settings) -> int:
    from services.alerting.digests.cli import DigestRequest, digest_cli

    request = DigestRequest(args.action, args.brand, args.period, end=args.end, out=args.out)
    return digest_cli(settings.common, settings.notify, request)
