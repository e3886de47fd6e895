"""`python -m tools.demo [--duration S] [--seed N]`: run the demo (`crisiswatch demo`)."""

from __future__ import annotations

import argparse
import json
import sys

from tools.demo.run import run_demo


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the demo, print the summary as JSON when unattended."""
    parser = argparse.ArgumentParser(prog="crisiswatch demo", description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="unattended: give up after")
    parser.add_argument("--seed", type=int, default=7, help="scenario seed")
    parser.add_argument("--day-seconds", type=float, default=60.0, help="replay time of the day")
    parser.add_argument("--crisis-seconds", type=float, default=45.0, help="replay of the crisis")
    parser.add_argument("--free-ports", action="store_true", help="do not use the default ports")
    args = parser.parse_args(argv)
    summary = run_demo(
        duration_s=args.duration,
        seed=args.seed,
        day_s=args.day_seconds,
        crisis_s=args.crisis_seconds,
        free_ports=args.free_ports,
    )
    if args.duration is not None:
        print(json.dumps(summary, indent=2))
        return 0 if summary["incidents"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
