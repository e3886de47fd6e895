"""The incident room's chart as inline SVG, drawn on the server (pure, no JavaScript).

Mentions per minute (bars: negative in red over the total in grey), the detector's baseline
(dashed), a projection of the last trend (dotted) and the mean sentiment (a line on its
own -1..1 scale at the right).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD = 720, 260, 36
_PROJECTED = 10  # bins projected past the last one


@dataclass(frozen=True, slots=True)
class Point:
    """One bin of the chart."""

    at: datetime
    volume: int
    negative: int
    sentiment: float | None  # mean score of the bin, -1..1


def projection(points: Sequence[Point], bins: int = _PROJECTED) -> list[float]:
    """Volumes of the next `bins` bins by a least-squares line over the last 15 (floor 0)."""
    recent = [p.volume for p in points[-15:]]
    n = len(recent)
    if n < 3:
        return []
    mean_x, mean_y = (n - 1) / 2, sum(recent) / n
    var = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(recent)) / var
    return [max(0.0, mean_y + slope * (n - 1 + k - mean_x)) for k in range(1, bins + 1)]


def svg_chart(points: Sequence[Point], *, baseline: float, title: str) -> str:
    """The chart as an accessible `<svg>` element (role img, title and description)."""
    if not points:
        return '<p class="muted">No mentions in the incident\'s window yet.</p>'
    ahead = projection(points)
    slots = len(points) + len(ahead)
    top = max([p.volume for p in points] + ahead + [baseline, 1.0]) * 1.1
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = plot_w / slots

    def y(value: float) -> float:
        return PAD + plot_h - plot_h * value / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{len(points)} one-minute bins from {points[0].at:%H:%M} to '
        f"{points[-1].at:%H:%M} UTC; peak {max(p.volume for p in points)} mentions per minute "
        f"against a baseline of {baseline:g}.</desc>",
        f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{WIDTH - PAD}" y2="{y(0):.1f}" class="axis"/>',
    ]
    bar_w = max(step * 0.8, 1.0)
    for i, p in enumerate(points):
        x = PAD + i * step
        parts.append(
            f'<rect class="vol" x="{x:.1f}" y="{y(p.volume):.1f}" width="{bar_w:.1f}" '
            f'height="{y(0) - y(p.volume):.1f}"/>'
        )
        if p.negative:
            parts.append(
                f'<rect class="neg" x="{x:.1f}" y="{y(p.negative):.1f}" width="{bar_w:.1f}" '
                f'height="{y(0) - y(p.negative):.1f}"/>'
            )
    parts.append(
        f'<line class="baseline" x1="{PAD}" y1="{y(baseline):.1f}" x2="{WIDTH - PAD}" '
        f'y2="{y(baseline):.1f}"/>'
    )
    if ahead:
        start = PAD + (len(points) - 1) * step + bar_w / 2
        coords = [f"{start:.1f},{y(points[-1].volume):.1f}"] + [
            f"{PAD + (len(points) + k) * step + bar_w / 2:.1f},{y(v):.1f}"
            for k, v in enumerate(ahead)
        ]
        parts.append(f'<polyline class="projection" points="{" ".join(coords)}"/>')
    sentiment = [
        f"{PAD + i * step + bar_w / 2:.1f},{PAD + plot_h * (1 - p.sentiment) / 2:.1f}"
        for i, p in enumerate(points)
        if p.sentiment is not None
    ]
    if len(sentiment) > 1:
        parts.append(f'<polyline class="sentiment" points="{" ".join(sentiment)}"/>')
    parts += [
        f'<text x="{PAD}" y="{PAD - 10}" class="label">mentions / min (max {top / 1.1:.0f})</text>',
        f'<text x="{WIDTH - PAD}" y="{PAD - 10}" class="label" text-anchor="end">'
        "sentiment -1..1</text>",
        f'<text x="{PAD}" y="{HEIGHT - 10}" class="label">{points[0].at:%H:%M}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 10}" class="label" text-anchor="end">'
        f"{points[-1].at:%H:%M} UTC</text>",
        "</svg>",
    ]
    return "".join(parts)
