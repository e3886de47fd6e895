"""The enrichment path runs no training or evaluation code: `tools/` stays out of the services."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Imports the sentiment service as `crisiswatch run sentiment` does, then resolves the default
# transformer model the way the enricher does (assembling it from the shipped heads).
PROBE = """
import json, sys
from pathlib import Path

import services.sentiment.service
import services.sentiment.worker
from services.sentiment.core.enrich import _resolve_model

path, languages = _resolve_model("default", "sentiment", Path(sys.argv[1]))
print(json.dumps({"path": path, "languages": languages, "modules": sorted(sys.modules)}))
"""

TRAINING_ONLY = ("tools", "sklearn")  # sklearn: only the Chinese trainer uses it


def test_sentiment_worker_imports_no_training_code(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["path"], "model.safetensors").is_file() and out["languages"] == ["en"]
    loaded = [
        m for m in out["modules"] if any(m == p or m.startswith(f"{p}.") for p in TRAINING_ONLY)
    ]
    assert loaded == []
