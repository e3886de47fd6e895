"""Brand digest content, pure: Slack Block Kit, email (text, HTML, charts) and webhook JSON.

Charts travel as data (`chart_specs`): the email channel renders them to PNG parts, the
preview to inline images. Everything users wrote (titles, story labels, phrases, owners,
brand names) is escaped for the target format.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from services.alerting.digests.figures import BrandFigures, DigestIncident, Measures
from services.alerting.digests.periods import bucket_labels
from services.alerting.notify.content import escape_slack, one_line, safe_url

CID_DOMAIN = "crisiswatch-digest"
_SPARKS = "▁▂▃▄▅▆▇█"
_MAX_LISTED = 8
ImageSource = Callable[[str], str]


def email_cid(name: str) -> str:
    """The Content-ID of chart `name` in a digest email."""
    return f"{name}@{CID_DOMAIN}"


def percent_change(figures: BrandFigures) -> str:
    """`+25% vs previous` or `new` when the previous period had no volume."""
    change = figures.volume_change()
    if change is None:
        return "no volume in the previous period" if figures.current.volume else "no volume"
    return f"{change:+.0%} vs previous period"


def _net(m: Measures) -> str:
    value = m.net_sentiment
    return "-" if value is None else f"{value * 100:+.0f}"


def sentiment_change(figures: BrandFigures) -> str:
    """Net sentiment now and its move in points, e.g. `-12 (-20 pts)`."""
    now, before = figures.current.net_sentiment, figures.previous.net_sentiment
    if now is None:
        return "no scored mentions"
    if before is None:
        return f"{now * 100:+.0f}"
    return f"{now * 100:+.0f} ({(now - before) * 100:+.0f} pts vs previous period)"


def sparkline(values: Sequence[int]) -> str:
    """Unicode bars of `values` (Slack has no inline images)."""
    top = max(values, default=0)
    if top <= 0:
        return _SPARKS[0] * len(values)
    return "".join(_SPARKS[min(len(_SPARKS) - 1, v * len(_SPARKS) // (top + 1))] for v in values)


def title_of(figures: BrandFigures) -> str:
    """The digest's headline: brand, period kind and days."""
    return one_line(f"{figures.brand} {figures.period.kind} digest: {figures.period.label}", 150)


def _aligned(values: Sequence[float | None], size: int) -> list[float | None]:
    """Cut or pad (None) a previous period's buckets to the current count (DST days differ)."""
    out = list(values[:size])
    return out + [None] * (size - len(out))


def chart_specs(figures: BrandFigures) -> list[dict[str, Any]]:
    """The digest's charts as data: volume, sentiment, share of voice, stories, incidents."""
    labels = bucket_labels(figures.period)
    n = len(labels)
    prev = _aligned([m.volume for m in figures.previous_series], n)

    def net(series: Sequence[Measures]) -> list[float | None]:
        values = [m.net_sentiment for m in series]
        return [None if v is None else round(v * 100, 1) for v in values]

    specs: list[dict[str, Any]] = [
        {
            "name": "volume",
            "kind": "lines",
            "title": "Mentions per " + ("hour" if figures.period.days == 1 else "day"),
            "labels": labels,
            "series": {"this period": [m.volume for m in figures.series], "previous period": prev},
        },
        {
            "name": "sentiment",
            "kind": "lines",
            "title": "Net sentiment (positive - negative, % of scored)",
            "labels": labels,
            "series": {
                "this period": net(figures.series),
                "previous period": _aligned(net(figures.previous_series), n),
            },
        },
    ]
    if figures.voice:
        specs.append(
            {
                "name": "voice",
                "kind": "bars",
                "title": "Share of voice (% of mentions)",
                "labels": [v.brand for v in figures.voice],
                "values": [round(v.share * 100, 1) for v in figures.voice],
            }
        )
    if figures.stories:
        specs.append(
            {
                "name": "stories",
                "kind": "bars",
                "title": "Top stories (mentions)",
                "labels": [one_line(s.label or "(unlabelled)", 40) for s in figures.stories],
                "values": [s.volume for s in figures.stories],
            }
        )
    specs.append(
        {
            "name": "incidents",
            "kind": "bars",
            "title": "Incidents",
            "labels": ["opened", "resolved", "dismissed", "open now"],
            "values": [
                len(figures.opened),
                len(figures.resolved),
                len(figures.dismissed),
                len(figures.open_now),
            ],
        }
    )
    return specs


def _incident_line(i: DigestIncident) -> str:
    owner = i.owner or "no owner"
    line = f"[{i.severity}] #{i.id} {one_line(i.title, 120)} ({i.status}, {owner})"
    if i.dismissal_reason:
        line += f": {one_line(i.dismissal_reason, 120)}"
    return line


def _text_lines(figures: BrandFigures) -> list[str]:
    f = figures
    lines = [
        title_of(f),
        "",
        f"Volume: {f.current.volume} ({percent_change(f)})",
        f"Net sentiment: {sentiment_change(f)}",
        f"Incidents: {len(f.opened)} opened, {len(f.resolved)} resolved, "
        f"{len(f.dismissed)} dismissed, {len(f.open_now)} open",
    ]
    if f.open_now:
        lines += ["", "Open incidents:"]
        lines += [f"- {_incident_line(i)} {i.link}" for i in f.open_now[:_MAX_LISTED]]
    closed = [*f.resolved, *f.dismissed][:_MAX_LISTED]
    if closed:
        lines += ["", "Closed in the period:"]
        lines += [f"- {_incident_line(i)} {i.link}" for i in closed]
    if f.stories:
        lines += ["", "Top stories:"]
        lines += [
            f"- {one_line(s.label or '(unlabelled)', 120)}: {s.volume} mentions, "
            f"{s.negative_share:.0%} negative"
            for s in f.stories
        ]
    if f.phrases:
        lines += ["", "Top phrases: " + ", ".join(f"{p} ({n})" for p, n in f.phrases)]
    if f.voice:
        lines += ["", "Share of voice: " + ", ".join(f"{v.brand} {v.share:.0%}" for v in f.voice)]
    if f.overview_link:
        lines += ["", f"Incident room: {f.overview_link}"]
    return lines


def _slack_link(url: str, label: str) -> str:
    link = safe_url(url)
    return f"<{escape_slack(link)}|{escape_slack(label)}>" if link else escape_slack(label)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900] or "-"}}


def slack_digest(figures: BrandFigures) -> dict[str, Any]:
    """A Block Kit digest: headline figures, a volume sparkline, incidents, stories, voice."""
    f = figures
    esc = escape_slack
    fields = [
        f"*Volume*\n{f.current.volume} ({esc(percent_change(f))})",
        f"*Net sentiment*\n{esc(sentiment_change(f))}",
        f"*Incidents*\n{len(f.opened)} opened, {len(f.resolved)} resolved, "
        f"{len(f.dismissed)} dismissed",
        f"*Open now*\n{len(f.open_now)}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title_of(f)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": x} for x in fields]},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Volume: `{sparkline([m.volume for m in f.series])}`"}
            ],
        },
    ]
    if f.open_now:
        lines = [
            f"• {_slack_link(i.link, f'#{i.id}')} {esc(_incident_line(i))}"
            for i in f.open_now[:_MAX_LISTED]
        ]
        blocks.append(_section("*Open incidents*\n" + "\n".join(lines)))
    closed = [*f.resolved, *f.dismissed][:_MAX_LISTED]
    if closed:
        lines = [f"• {_slack_link(i.link, f'#{i.id}')} {esc(_incident_line(i))}" for i in closed]
        blocks.append(_section("*Closed in the period*\n" + "\n".join(lines)))
    if f.stories:
        lines = [
            f"• {esc(one_line(s.label or '(unlabelled)', 120))}: {s.volume} mentions, "
            f"{s.negative_share:.0%} negative"
            for s in f.stories
        ]
        blocks.append(_section("*Top stories*\n" + "\n".join(lines)))
    if f.phrases:
        blocks.append(
            _section("*Top phrases*\n" + esc(", ".join(f"{p} ({n})" for p, n in f.phrases)))
        )
    if f.voice:
        voice = ", ".join(f"{v.brand} {v.share:.0%}" for v in f.voice)
        blocks.append(_section("*Share of voice*\n" + esc(voice)))
    if f.overview_link:
        blocks.append(_section(_slack_link(f.overview_link, "Open the incident room")))
    return {"text": esc(title_of(f)), "blocks": blocks}


def _html_incidents(title: str, incidents: Sequence[DigestIncident]) -> str:
    if not incidents:
        return ""
    items = "".join(
        f'<li><a href="{html.escape(safe_url(i.link) or "#")}">#{i.id}</a> '
        f"{html.escape(_incident_line(i))}</li>"
        for i in incidents[:_MAX_LISTED]
    )
    return f"<h3>{html.escape(title)}</h3><ul>{items}</ul>"


def render_html(figures: BrandFigures, image_src: ImageSource) -> str:
    """The digest as one HTML page; `image_src(name)` gives the `src` of chart `name`."""
    f = figures
    esc = html.escape
    charts = {spec["name"]: spec["title"] for spec in chart_specs(f)}

    def img(name: str) -> str:
        if name not in charts:
            return ""
        return (
            f'<p><img src="{esc(image_src(name))}" alt="{esc(charts[name])}" '
            f'style="max-width:100%;height:auto" width="600"></p>'
        )

    stories = "".join(
        f"<li>{esc(one_line(s.label or '(unlabelled)', 160))}: {s.volume} mentions, "
        f"{s.negative_share:.0%} negative"
        + (f" <small>({esc(', '.join(s.phrases[:5]))})</small>" if s.phrases else "")
        + "</li>"
        for s in f.stories
    )
    phrases = esc(", ".join(f"{p} ({n})" for p, n in f.phrases)) or "none"
    voice = "".join(f"<li>{esc(v.brand)}: {v.volume} mentions, {v.share:.0%}</li>" for v in f.voice)
    room = (
        f'<p><a href="{esc(safe_url(f.overview_link) or "#")}">Open the incident room</a></p>'
        if f.overview_link
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title_of(f))}</title></head>"
        '<body style="font-family:sans-serif;color:#1a1a1a;max-width:640px;margin:auto">'
        f"<h1>{esc(title_of(f))}</h1>"
        f"<h2>Volume</h2><p>{f.current.volume} mentions ({esc(percent_change(f))})</p>"
        f"{img('volume')}"
        f"<h2>Sentiment</h2><p>Net sentiment {esc(sentiment_change(f))}; negative share "
        f"{_share(f.current.negative_share)} (previous {_share(f.previous.negative_share)})</p>"
        f"{img('sentiment')}"
        + (f"<h2>Share of voice</h2><ul>{voice}</ul>{img('voice')}" if f.voice else "")
        + (f"<h2>Top stories</h2><ol>{stories}</ol>{img('stories')}" if f.stories else "")
        + f"<h2>Top phrases</h2><p>{phrases}</p>"
        f"<h2>Incidents</h2><p>{len(f.opened)} opened, {len(f.resolved)} resolved, "
        f"{len(f.dismissed)} dismissed as false positives, {len(f.open_now)} open</p>"
        f"{img('incidents')}"
        + _html_incidents("Open incidents", f.open_now)
        + _html_incidents("Opened in the period", f.opened)
        + _html_incidents("Closed in the period", [*f.resolved, *f.dismissed])
        + room
        + "</body></html>"
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def email_digest(figures: BrandFigures) -> dict[str, Any]:
    """Subject, text, HTML and the charts (rendered by the email channel, inline by cid)."""
    charts = [{**spec, "cid": email_cid(spec["name"])} for spec in chart_specs(figures)]
    return {
        "subject": title_of(figures),
        "text": "\n".join(_text_lines(figures)) + "\n",
        "html": render_html(figures, lambda name: f"cid:{email_cid(name)}"),
        "chart": None,
        "charts": charts,
    }


def webhook_digest(figures: BrandFigures) -> dict[str, Any]:
    """The digest as JSON for a webhook receiver."""
    f = figures

    def incident(i: DigestIncident) -> dict[str, Any]:
        return {
            "id": i.id,
            "severity": i.severity,
            "title": i.title,
            "status": i.status,
            "owner": i.owner,
            "link": i.link,
        }

    return {
        "event": "brand_digest",
        "brand": f.brand,
        "period": {
            "kind": f.period.kind,
            "start": f.period.start.isoformat(),
            "end": f.period.end.isoformat(),
        },
        "summary": f.summary(),
        "open_incidents": [incident(i) for i in f.open_now],
        "opened": [incident(i) for i in f.opened],
        "resolved": [incident(i) for i in f.resolved],
        "dismissed": [incident(i) for i in f.dismissed],
        "stories": [{"label": s.label, "volume": s.volume} for s in f.stories],
        "phrases": [{"phrase": p, "count": n} for p, n in f.phrases],
        "share_of_voice": [{"brand": v.brand, "share": v.share} for v in f.voice],
    }


def digest_payloads(figures: BrandFigures, *, channels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """One payload per channel (`slack`, `email`, `webhook`)."""
    builders = {"slack": slack_digest, "email": email_digest, "webhook": webhook_digest}
    return {ch: builders[ch](figures) for ch in channels if ch in builders}
