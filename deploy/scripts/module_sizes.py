"""Fail when a Python module of shared/, services/ or tools/ is over the size limit (`make lint`).

Big modules mix jobs; split them by job instead (docs/architecture.md says where code goes).
Alembic migrations are exempt: one revision is one file whatever its size.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "tools")
EXEMPT = (Path("shared/db/migrations"),)
MAX_LINES = 500


def oversized(root: Path = ROOT, max_lines: int = MAX_LINES) -> list[tuple[Path, int]]:
    """Return (path relative to root, line count) of every module over max_lines, biggest first."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if any(relative.is_relative_to(exempt) for exempt in EXEMPT):
                continue
            with path.open("rb") as handle:
                lines = sum(1 for _ in handle)
            if lines > max_lines:
                found.append((relative, lines))
    return sorted(found, key=lambda item: -item[1])


def main() -> int:
    """Print the modules over the limit; exit 1 when there is any."""
    found = oversized()
    for path, lines in found:
        print(f"{path}: {lines} lines (limit {MAX_LINES}; split it by job)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
