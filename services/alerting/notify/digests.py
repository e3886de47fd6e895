"""Digest and notice content, pure: several low-severity incidents in one message, and short
notices (an overdue playbook step), for Slack, email and webhooks."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from services.alerting.notify.content import (
    IncidentSummary,
    Links,
    movement,
    slack_links,
    webhook_payload,
)
from services.alerting.notify.markup import escape_slack, html_link, one_line, slack_link

_MAX_DIGEST_ITEMS = 20


def digest_payloads(
    items: Sequence[tuple[IncidentSummary, Links]], *, channels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Build one digest message per channel summarising several lower-severity incidents."""
    shown = items[:_MAX_DIGEST_ITEMS]
    more = len(items) - len(shown)
    title = f"crisiswatch digest: {len(items)} lower-severity incident(s)"
    lines = [
        f"[{s.severity}] {s.brand}: {one_line(s.title, 120)} - {movement(s)}" for s, _ in shown
    ]
    out: dict[str, dict[str, Any]] = {}
    if "slack" in channels:
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title}}
        ]
        for (s, ln), line in zip(shown, lines, strict=True):
            link = slack_link(ln.incident, f"#{s.id}") or f"#{s.id}"
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"{escape_slack(line)} {link}"},
                }
            )
        if more:
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {more} more"}]}
            )
        out["slack"] = {"text": escape_slack(title), "blocks": blocks}
    if "email" in channels:
        text = [title, ""] + [
            f"- {line} {ln.incident}" for (_, ln), line in zip(shown, lines, strict=True)
        ]
        items_html = "".join(
            f"<li>{html.escape(line)} {html_link(ln.incident, 'view')}</li>"
            for (_, ln), line in zip(shown, lines, strict=True)
        )
        if more:
            text.append(f"and {more} more")
            items_html += f"<li>and {more} more</li>"
        out["email"] = {
            "subject": title,
            "text": "\n".join(text) + "\n",
            "chart": None,
            "html": f"<html><body><h2>{html.escape(title)}</h2><ul>{items_html}</ul></body></html>",
        }
    if "webhook" in channels:
        out["webhook"] = {
            "event": "digest",
            "incidents": [
                webhook_payload(s, ln, update_kind="digest")["incident"] for s, ln in items
            ],
        }
    return out


def notice_payloads(
    headline: str, lines: Sequence[str], links: Links, *, channels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Build a short notice (e.g. an overdue playbook step) per channel."""
    out: dict[str, dict[str, Any]] = {}
    if "slack" in channels:
        body = "\n".join(escape_slack(line) for line in lines)
        out["slack"] = {
            "text": escape_slack(one_line(headline, 150)),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": one_line(headline, 150)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": body or "-"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": slack_links(links)}},
            ],
        }
    if "email" in channels:
        items = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        out["email"] = {
            "subject": one_line(headline, 180),
            "chart": None,
            "text": "\n".join([*lines, "", f"Incident: {links.incident}"]) + "\n",
            "html": f"<html><body><h2>{html.escape(headline)}</h2>{items}<p>"
            f"{html_link(links.incident, 'View incident')}</p></body></html>",
        }
    if "webhook" in channels:
        out["webhook"] = {
            "event": "notice",
            "headline": headline,
            "lines": list(lines),
            "links": {"incident": links.incident},
        }
    return out
