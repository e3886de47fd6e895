"""A small PNG of a spike against its baseline, rendered headless (matplotlib Agg)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure


def render_spike_chart(
    points: Sequence[tuple[datetime, float]], baseline: float, *, title: str = ""
) -> bytes:
    """Render the series as a line with its baseline as a dashed line; return PNG bytes."""
    # Figure + Agg canvas directly (no pyplot): no global state, safe in any thread.
    fig = Figure(figsize=(6.0, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    times = [float(date2num(ts)) for ts, _ in points]
    values = [value for _, value in points]
    ax.plot(times, values, color="#c0392b", linewidth=1.6, label="observed")
    if times:
        ax.hlines(
            baseline, times[0], times[-1], colors="#7f8c8d", linestyles="dashed", label="baseline"
        )
    ax.set_title(title, fontsize=9)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M"))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def render_chart_payload(chart: dict[str, Any]) -> bytes:
    """Render the `chart` entry of an email payload (ISO timestamps, values, baseline)."""
    points = [(datetime.fromisoformat(ts), float(value)) for ts, value in chart["points"]]
    return render_spike_chart(points, float(chart["baseline"]), title=str(chart.get("title", "")))


def _values(raw: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in raw]


def render_chart_spec(spec: dict[str, Any]) -> bytes:
    """Render a digest chart: `lines` (named series over labels) or `bars` (label, value)."""
    fig = Figure(figsize=(6.0, 2.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [str(label) for label in spec["labels"]]
    if spec["kind"] == "lines":
        colours = ("#c0392b", "#7f8c8d", "#2c3e50")
        for (name, values), colour in zip(spec["series"].items(), colours, strict=False):
            dashed = "previous" in name
            ax.plot(
                range(len(values)),
                _values(values),
                color=colour,
                linewidth=1.6,
                linestyle="--" if dashed else "-",
                label=name,
            )
        step = max(1, len(labels) // 8)
        ax.set_xticks(range(0, len(labels), step), labels[::step])
        ax.legend(fontsize=7, loc="upper left")
    else:
        positions = range(len(labels))
        ax.barh(positions, _values(spec["values"]), color="#2c7fb8")
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
    ax.set_title(str(spec.get("title", "")), fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
