"""A brand's story state: what a merge carries over is decided by counts, not by set order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.sentiment.core.story_state import BrandState

ROOT = Path(__file__).resolve().parents[3]

# Two stories of 200 entities each: the merged story keeps 256 (its bound), and which 56 of
# the source's it keeps must not depend on the process's string hashing.
_MERGE = """
import json
from services.sentiment.core.story_state import BrandState
state = BrandState(8, 4, 4096, 64)
state.count_entities(0, [f"place {i}" for i in range(200)])
state.count_entities(1, [f"town {i}" for i in range(200)])
state.count_entities(1, [f"town {i}" for i in range(150, 200)], times=3)
state.move_entities(1, 0)
print(json.dumps(sorted(state.slot_entities[0])))
"""


def test_a_merge_keeps_the_source_entities_named_most() -> None:
    state = BrandState(8, 4, 4096, 64)
    state.count_entities(0, [f"place {i}" for i in range(200)])
    state.count_entities(1, [f"town {i}" for i in range(200)])
    state.count_entities(1, [f"town {i}" for i in range(150, 200)], times=3)
    state.move_entities(1, 0)
    kept = {e for e in state.slot_entities[0] if e.startswith("town")}
    assert len(state.slot_entities[0]) == 256
    # the 50 named four times first, then 6 of the rest by name
    assert {f"town {i}" for i in range(150, 200)} <= kept and len(kept) == 56
    assert state.entities["town 199"] == {0: 4}
    assert not state.slot_entities[1] and state.size[1] == 0


def test_a_merge_is_the_same_under_any_string_hash_seed() -> None:
    kept = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", _MERGE], env=env, cwd=ROOT, capture_output=True, text=True,
            check=True, timeout=60,
        )  # fmt: skip
        kept.append(json.loads(out.stdout))
    assert kept[0] == kept[1] == kept[2]
    assert len(kept[0]) == 256
