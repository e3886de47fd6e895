"""`run_detection_eval` prints one JSON line per alert and a summary, in the documented shape."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tests.unit.alerting.conftest import series
from tools.eval.detection import run_detection_eval


def test_eval_prints_json_lines(tmp_path: Path) -> None:
    points = series(3 * 288, 50.0, step_s=300)
    at = 2 * 288 + 100
    csv_path = tmp_path / "brand_x.csv"
    lines = ["timestamp,value"] + [
        f"{ts:%Y-%m-%d %H:%M:%S},{int(v * 10 if at <= i < at + 3 else v)}"
        for i, (ts, v) in enumerate(points)
    ]
    csv_path.write_text("\n".join(lines) + "\n")
    labels = tmp_path / "labels.json"
    window = [f"{points[at - 20][0]:%Y-%m-%d %H:%M:%S}", f"{points[at + 20][0]:%Y-%m-%d %H:%M:%S}"]
    labels.write_text(json.dumps({"brand_x.csv": [window]}))

    out = io.StringIO()
    summary = run_detection_eval(csv_path, "balanced", out=out, labels_path=labels)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    alerts, final = rows[:-1], rows[-1]
    assert alerts and all(set(r) == {"series", "ts", "score", "rule"} for r in alerts)
    assert all(r["series"] == "brand_x" and len(r["ts"]) == 19 for r in alerts)
    assert final == summary and final["n"] == len(points) and final["bin_seconds"] == 300
    assert final["alerts"] == len(alerts) and final["windows_caught"] == 1
    assert {"alerts_per_week", "false_alerts_per_week", "median_delay_minutes"} <= set(final)


def test_delay_from_labeled_point_when_points_file_is_beside_labels(tmp_path: Path) -> None:
    points = series(3 * 288, 50.0, step_s=300)
    at = 2 * 288 + 100
    csv_path = tmp_path / "brand_y.csv"
    lines = ["timestamp,value"] + [
        f"{ts:%Y-%m-%d %H:%M:%S},{int(v * 10 if at <= i < at + 3 else v)}"
        for i, (ts, v) in enumerate(points)
    ]
    csv_path.write_text("\n".join(lines) + "\n")
    fmt = "%Y-%m-%d %H:%M:%S"
    window = [f"{points[at - 20][0]:{fmt}}", f"{points[at + 20][0]:{fmt}}"]
    (tmp_path / "labels.json").write_text(json.dumps({"brand_y.csv": [window]}))
    (tmp_path / "anomaly_points.json").write_text(
        json.dumps({"brand_y.csv": [f"{points[at - 2][0]:{fmt}}"]})
    )
    summary = run_detection_eval(
        csv_path, "balanced", out=io.StringIO(), labels_path=tmp_path / "labels.json"
    )
    assert summary["windows_caught"] == 1
    # The window opens 100 minutes before the spike; the labeled point 10 minutes before.
    assert summary["median_delay_minutes"] - summary["median_delay_from_point_minutes"] == 90
    assert 0 <= summary["median_delay_from_point_minutes"] <= 30


def test_forecast_flag_adds_projections_and_their_scores(tmp_path: Path) -> None:
    points = series(4 * 288, 50.0, step_s=300)
    at = 2 * 288 + 100
    csv_path = tmp_path / "brand_f.csv"
    lines = ["timestamp,value"] + [
        f"{ts:%Y-%m-%d %H:%M:%S},{int(v * 10 if at <= i < at + 3 else v)}"
        for i, (ts, v) in enumerate(points)
    ]
    csv_path.write_text("\n".join(lines) + "\n")

    out = io.StringIO()
    summary = run_detection_eval(csv_path, "balanced", out=out, forecast=True)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    alerts, final = rows[:-1], rows[-1]
    assert alerts and all({"ts", "projection"} <= set(r) for r in alerts)
    assert [o["hours"] for o in alerts[0]["projection"]["outlooks"]] == [1, 6, 24]
    scored = final["forecast"]
    assert final == summary and scored["alerts"] == len(alerts)
    for h in ("1h", "6h", "24h"):
        assert scored[h]["n"] >= 1
        assert 0.0 <= scored[h]["coverage"] <= 1.0
        assert scored[h]["ratio"] >= 0.0
    # After a 15-minute burst the calm that follows is far closer to the seasonal baseline
    # than to "the last hour again".
    assert scored["24h"]["ratio"] < 1.0
