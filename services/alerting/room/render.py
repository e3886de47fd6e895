"""HTML of the incident room, the overview and the sign-in page (pure, escaped).

Plain server-rendered HTML: semantic landmarks, labelled controls, visible focus, AA
contrast and a layout that reflows on a phone. The only script copies a holding statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape

from services.alerting.incidents.schemas import IncidentRead
from services.alerting.notify.content import safe_url
from services.alerting.room.chart import svg_chart
from services.alerting.room.data import Room
from services.alerting.slack.blocks import DISMISS_REASONS
from services.alerting.slack.commands import DaySentiment

_CSS = """
:root{--fg:#1b1b1b;--muted:#4a4a4a;--bg:#fff;--line:#c8c8c8;--accent:#0b5cad;--bad:#b00020}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,sans-serif;color:var(--fg);
background:var(--bg)}header,main,footer{max-width:60rem;margin:0 auto;padding:.75rem 1rem}
header{border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:.5rem 1rem;
align-items:baseline;justify-content:space-between}h1{font-size:1.4rem;margin:.5rem 0}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem;border-bottom:1px solid var(--line)}
a{color:var(--accent)}.muted{color:var(--muted)}.sev{font-weight:700;padding:.1rem .4rem;
border:2px solid currentColor;border-radius:.3rem}.SEV1,.SEV2{color:var(--bad)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem;
border-bottom:1px solid var(--line);vertical-align:top}button,select,input{font:inherit;
padding:.4rem .7rem;border:1px solid var(--fg);border-radius:.3rem;background:#f4f4f4;
color:var(--fg)}button.primary{background:var(--accent);color:#fff;border-color:var(--accent)}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}.actions{display:flex;
flex-wrap:wrap;gap:.5rem;align-items:center}.actions form{display:inline-flex;gap:.3rem}
blockquote{margin:.3rem 0;padding:.5rem .8rem;border-left:4px solid var(--line);
background:#f7f7f7;white-space:pre-wrap}.chart{width:100%;height:auto}.chart .vol{fill:#9e9e9e}
.chart .neg{fill:#c62828}.chart .baseline{stroke:#0b5cad;stroke-dasharray:6 4;stroke-width:2}
.chart .projection{fill:none;stroke:#6a1b9a;stroke-dasharray:2 4;stroke-width:2}
.chart .sentiment{fill:none;stroke:#2e7d32;stroke-width:2}.chart .axis{stroke:#555}
.chart .label{font-size:12px;fill:#333}.notice{padding:.6rem;border:2px solid var(--accent)}
.error{border-color:var(--bad)}ul.legend{display:flex;flex-wrap:wrap;gap:1rem;padding:0;
list-style:none;font-size:.9rem}li,p,h1,blockquote{overflow-wrap:anywhere}td{overflow-wrap:break-word}
button{white-space:nowrap}
@media (max-width:600px){table{display:block;overflow-x:auto}}
"""
COPY_SCRIPT = """
document.querySelectorAll('button[data-copy]').forEach(function(b){b.addEventListener('click',
function(){var t=document.getElementById(b.dataset.copy).innerText;navigator.clipboard.writeText(t)
.then(function(){b.textContent='Copied';});});});
"""


def page(title: str, body: str, *, who: str | None = None, script: bool = False) -> str:
    """A whole HTML document around `body`."""
    session = (
        f'<form method="post" action="/incidents/logout"><span class="muted">{escape(who)}'
        '</span> <button type="submit">Sign out</button></form>'
        if who
        else ""
    )
    js = f"<script>{COPY_SCRIPT}</script>" if script else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · crisiswatch</title><style>{_CSS}</style></head><body>"
        f'<header><a href="/incidents">crisiswatch incidents</a>{session}</header>'
        f'<main id="main">{body}</main>{js}</body></html>'
    )


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "-"


def _hidden(form_token: str) -> str:
    return f'<input type="hidden" name="form_token" value="{escape(form_token)}">'


def _lifecycle(incident: IncidentRead, form_token: str) -> str:
    if incident.status == "resolved":
        return '<p class="muted">Resolved: nothing left to do here.</p>'
    base = f"/incidents/{incident.id}/act"
    hidden = _hidden(form_token)

    def button(action: str, label: str, cls: str = "") -> str:
        return (
            f'<form method="post" action="{base}">{hidden}'
            f'<button type="submit" name="action" value="{action}" class="{cls}">{label}'
            "</button></form>"
        )

    reasons = "".join(
        f'<option value="{escape(code)}">{escape(label)}</option>'
        for code, label in DISMISS_REASONS.items()
    )
    forms = [
        button("acknowledge", "Acknowledge", "primary")
        if incident.status != "acknowledged"
        else "",
        button("take", "Take it"),
        button("snooze_60", "Snooze 1 h"),
        button("snooze_240", "Snooze 4 h"),
        button("escalate", "Escalate"),
        button("resolve", "Resolve"),
        f'<form method="post" action="{base}">{hidden}<label for="reason">Dismiss as false '
        f'positive:</label><select id="reason" name="reason">{reasons}</select>'
        '<button type="submit" name="action" value="dismiss">Dismiss</button></form>',
    ]
    return f'<div class="actions">{"".join(forms)}</div>'


def room_page(
    room: Room, *, role: str, who: str, form_token: str, notice: str | None = None
) -> str:
    """The incident room of one incident; lifecycle forms only for responders."""
    i = room.incident
    acts = role in ("responder", "admin")
    details = i.details or {}
    baseline = float(details.get("baseline") or 0.0)
    phrases = [str(t) for t in details.get("top_terms", []) or details.get("phrases", [])][:10]
    out = [
        f'<h1><span class="sev {escape(i.severity)}">{escape(i.severity)}</span> '
        f"{escape(i.title)}</h1>",
        f"<p><strong>{escape(i.brand)}</strong> · {escape(i.category)} · status "
        f'<strong id="status">{escape(i.status)}</strong> · owner {escape(i.owner or "none")}'
        f" · opened {_when(i.opened_at)}</p>",
    ]
    if notice:
        out.append(f'<p class="notice error" role="alert">{escape(notice)}</p>')
    if phrases:
        out.append(f"<p>Phrases: {escape(', '.join(phrases))}</p>")
    out.append('<h2 id="act">Respond</h2>')
    out.append(
        _lifecycle(i, form_token)
        if acts
        else '<p class="muted">You can read this incident; acting on it needs a responder '
        'key: <a href="/incidents/login">sign in</a>.</p>'
    )
    out += [
        "<h2>Volume and sentiment</h2>",
        svg_chart(room.points, baseline=baseline, title=f"{i.brand}: mentions per minute"),
        '<ul class="legend"><li>grey: all mentions</li><li>red: negative</li>'
        "<li>dashed blue: baseline</li><li>dotted purple: projection</li>"
        "<li>green: mean sentiment</li></ul>",
    ]
    if i.projection is not None:
        out.append(
            f'<p id="projection"><strong>Projected:</strong> {escape(i.projection.line)}</p>'
        )
    out.append("<h2>Why this severity</h2>")
    listed = room.reasons or [f"rule {s.rule} fired (score {s.score:.1f})" for s in i.signals]
    out.append(
        "<ul>" + "".join(f"<li>{escape(str(r))}</li>" for r in listed) + "</ul>"
        if listed
        else '<p class="muted">No reasons recorded.</p>'
    )
    out.append("<h2>Scope</h2>")
    out.append(
        "<table>"
        + "".join(
            f"<tr><th scope='row'>{escape(str(k))}</th><td>{escape(_scope_value(v))}</td></tr>"
            for k, v in room.scope.items()
        )
        + "</table>"
        if room.scope
        else '<p class="muted">No scope recorded.</p>'
    )
    out.append("<h2>Samples by language</h2>")
    if not room.samples:
        out.append('<p class="muted">No mentions stored for this incident\'s window.</p>')
    for language, samples in room.samples.items():
        out.append(f"<h3>{escape(language)}</h3><ul>")
        for s in samples:
            link = safe_url(s.url)
            opener = f' <a href="{escape(link)}" rel="noopener noreferrer">open</a>' if link else ""
            out.append(
                f"<li>{escape(s.text[:400])} <span class='muted'>({escape(s.platform)}, "
                f"{escape(s.sentiment or 'unscored')}, {_when(s.at)})</span>{opener}</li>"
            )
        out.append("</ul>")
    out.append('<h2 id="steps">Playbook</h2>')
    out.append(_steps(room, acts, form_token))
    out.append('<h2 id="statements">Holding statements</h2>')
    if not i.holding_statements:
        out.append('<p class="muted">This playbook has no holding statement.</p>')
    for n, st in enumerate(i.holding_statements):
        main = " (main language)" if st.main else ""
        out.append(
            f"<h3>{escape(st.language)}{main}</h3>"
            f'<blockquote id="statement-{n}" lang="{escape(st.language)}">{escape(st.text)}'
            f'</blockquote><button type="button" data-copy="statement-{n}" '
            f'aria-label="Copy the {escape(st.language)} holding statement">Copy</button>'
        )
    out.append(
        "<h2>Timeline</h2><table><thead><tr><th scope='col'>When</th>"
        "<th scope='col'>What</th><th scope='col'>Who</th></tr></thead><tbody>"
    )
    for e in i.timeline:
        data = ", ".join(f"{k}: {v}" for k, v in e.data.items() if v not in (None, "", {}))
        out.append(
            f"<tr><td>{_when(e.at)}</td><td>{escape(e.kind)}"
            f"{' (' + escape(data[:200]) + ')' if data else ''}</td><td>{escape(e.actor)}</td></tr>"
        )
    out.append("</tbody></table>")
    return page(f"#{i.id} {i.title}", "".join(out), who=f"{who} ({role})", script=True)


def _scope_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _steps(room: Room, acts: bool, form_token: str) -> str:
    if not room.steps:
        return '<p class="muted">No playbook run for this incident.</p>'
    rows = []
    for st in room.steps:
        tick = ""
        if acts and st.status != "done":
            tick = (
                f'<form method="post" action="/incidents/{room.incident.id}/steps/{st.id}">'
                f'{_hidden(form_token)}<button type="submit" aria-label="Mark step '
                f'{st.position} done">Done</button></form>'
            )
        rows.append(
            f"<tr><td>{st.position}</td><td>{escape(st.title)}</td><td>{escape(st.owner_role)}"
            f"</td><td>{_when(st.due_at)}</td><td>{escape(st.status)}</td><td>{tick}</td></tr>"
        )
    head = (
        "<table><thead><tr><th scope='col'>#</th><th scope='col'>Step</th>"
        "<th scope='col'>Owner</th><th scope='col'>Due</th><th scope='col'>Status</th>"
        "<th scope='col'><span class='muted'>Tick</span></th></tr></thead><tbody>"
    )
    return head + "".join(rows) + "</tbody></table>"


def overview_page(
    incidents: Sequence[IncidentRead], brands: Mapping[str, DaySentiment], *, who: str
) -> str:
    """The open incidents and each brand's last 24 hours."""
    out = ["<h1>Open incidents</h1>"]
    if incidents:
        out.append(
            "<table><thead><tr><th scope='col'>Incident</th><th scope='col'>Severity</th>"
            "<th scope='col'>Brand</th><th scope='col'>Status</th><th scope='col'>Owner</th>"
            "<th scope='col'>Opened</th></tr></thead><tbody>"
        )
        for i in incidents:
            out.append(
                f'<tr><td><a href="/incidents/{i.id}">#{i.id} {escape(i.title)}</a></td>'
                f'<td><span class="sev {escape(i.severity)}">{escape(i.severity)}</span></td>'
                f"<td>{escape(i.brand)}</td><td>{escape(i.status)}</td>"
                f"<td>{escape(i.owner or '-')}</td><td>{_when(i.opened_at)}</td></tr>"
            )
        out.append("</tbody></table>")
    else:
        out.append("<p>No open incident.</p>")
    out.append("<h2>Brands, last 24 hours</h2>")
    if brands:
        out.append(
            "<table><thead><tr><th scope='col'>Brand</th><th scope='col'>Mentions</th>"
            "<th scope='col'>Negative</th><th scope='col'>Mean sentiment</th></tr></thead><tbody>"
        )
        for brand, day in brands.items():
            share = f"{100 * day.negative / day.volume:.0f}%" if day.volume else "-"
            mean = f"{day.mean:+.2f}" if day.mean is not None else "-"
            out.append(
                f"<tr><td>{escape(brand)}</td><td>{day.volume}</td><td>{share}</td>"
                f"<td>{mean}</td></tr>"
            )
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No mentions in the last 24 hours.</p>')
    return page("Open incidents", "".join(out), who=who)


def login_page(*, next_url: str, message: str | None = None) -> str:
    """The API-key sign-in form (the key travels in a POST body, never in a URL)."""
    note = f'<p class="notice error" role="alert">{escape(message)}</p>' if message else ""
    body = (
        f"<h1>Sign in</h1>{note}<p>Open the link of a notification, or sign in with an API "
        "key (viewer: read; responder: act).</p>"
        '<form method="post" action="/incidents/login">'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
        '<p><label for="api_key">API key</label><br>'
        '<input id="api_key" name="api_key" type="password" autocomplete="off" required '
        'size="40"></p><p><button class="primary" type="submit">Sign in</button></p></form>'
    )
    return page("Sign in", body)
