"""Escaping for notifications, pure: Slack mrkdwn, one-line text, safe links, HTML links.

Everything that came from users (mention text, authors, terms, brand names, titles) passes
through these before it reaches a message, so a mention cannot ping a Slack channel or
inject HTML.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

MAX_SAMPLE_CHARS = 280
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_WS = re.compile(r"\s+")


def escape_slack(text: str) -> str:
    """Escape `&`, `<`, `>` and defuse @channel/@here/@everyone in Slack mrkdwn text."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), escaped)


def one_line(text: str, limit: int = MAX_SAMPLE_CHARS) -> str:
    """Collapse whitespace (no newlines, safe for headers) and cut to `limit` characters."""
    flat = _WS.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def safe_url(url: str | None) -> str | None:
    """Return `url` when it is http(s), with characters that break markup percent-encoded."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%~-._")


def slack_link(url: str | None, label: str) -> str | None:
    """A Slack mrkdwn link to a safe `url`, else None."""
    link = safe_url(url)
    return f"<{escape_slack(link)}|{label}>" if link else None


def html_link(url: str | None, label: str) -> str:
    """An HTML anchor to a safe `url`, else an empty string."""
    link = safe_url(url)
    return f'<a href="{html.escape(link)}">{html.escape(label)}</a>' if link else ""
