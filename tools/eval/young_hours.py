"""Does a young brand's crisis get caught whatever the hour? (issue 15, docs/detection.md)

A brand with 8 hours of history at `base` mentions a minute, then a 24-minute plateau at
`high` a minute, run through the real `DetectionEngine` once per rise hour 00..23 UTC and
seed; prints one row per preset with, per rise hour, how many seeds paged in the plateau.
With `--shaped` both rates follow the population's day (an ordinary brand).

    python3 -m tools.eval.young_hours --shaped --high 13 --seeds 4
    python3 -m tools.eval.young_hours --shaped --high 13 --counts '{"shape_delay_minutes": 60}'
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.alerting.detect.bins import BRAND_TOPIC, Bin
from services.alerting.detect.counts import PRESETS
from services.alerting.detect.engine import DetectionEngine, EngineConfig
from services.alerting.detect.season import POPULATION_DAY_SHAPE
from services.alerting.detect.spikes import SpikeConfig
from tools.eval.scenarios import _poisson

_DAY0 = datetime(2026, 11, 21, tzinfo=UTC).timestamp()


@dataclass(frozen=True, slots=True)
class _Config(EngineConfig):
    """The engine's config with count-detector settings laid over every preset."""

    counts: dict[str, Any] = field(default_factory=dict)

    def spike_config(self, name: str | None = None) -> SpikeConfig:
        cfg = EngineConfig.spike_config(self, name)
        return replace(cfg, counts=replace(cfg.counts, **self.counts))


def pages_in_plateau(
    preset: str,
    hour: int,
    seed: int,
    *,
    shaped: bool,
    base: float,
    high: float,
    counts: dict[str, Any],
) -> bool:
    """Return whether the plateau starting at `hour` (UTC) raised a volume signal."""
    rng = random.Random(seed)
    engine = DetectionEngine(_Config(preset=preset, topics=(), counts=counts))
    rise = _DAY0 + hour * 3600
    t = rise - 8 * 3600
    while t < rise + 24 * 60:
        shape = POPULATION_DAY_SHAPE[int(t // 3600) % 24] if shaped else 1.0
        n = _poisson(rng, (high if t >= rise else base) * shape)
        b = Bin(brand="b", topic=BRAND_TOPIC, start=t, count=n, scored=n, negatives=n // 2)
        out = engine.process_group([b])
        if t >= rise and (out.signals or out.gated):
            return True
        t += 60
    return False


def main() -> None:
    """Print the hour table of every preset."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shaped", action="store_true", help="follow the population's day")
    parser.add_argument("--base", type=float, default=3.0, help="mentions a minute before")
    parser.add_argument("--high", type=float, default=13.0, help="mentions a minute in the plateau")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--counts", default="{}", help="count-detector settings (JSON)")
    args = parser.parse_args()
    counts = json.loads(args.counts)
    for preset in PRESETS:
        hits = [
            sum(
                pages_in_plateau(
                    preset,
                    h,
                    1000 * k + h,
                    shaped=args.shaped,
                    base=args.base,
                    high=args.high,
                    counts=counts,
                )
                for k in range(args.seeds)
            )
            for h in range(24)
        ]
        print(f"{preset:9s} {''.join(map(str, hits))} {sum(hits)}/{24 * args.seeds}")


if __name__ == "__main__":
    main()
