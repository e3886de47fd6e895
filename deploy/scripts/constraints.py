"""Print deploy/constraints.txt: the installed version of every runtime dependency.

The runtime dependencies of pyproject.toml and everything they pull in (extras and markers
evaluated for this Python), pinned to the versions installed now, so install.sh and the
Dockerfile install what the tests ran with. torch and what only torch needs are left out:
torch is installed once per machine (the CPU or GPU build that fits it) and reused.

    python3 deploy/scripts/constraints.py > deploy/constraints.txt
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
UNPINNED = frozenset({"torch"})  # installed once per machine, with the build that fits it


def runtime_requirements() -> list[Requirement]:
    """The `[project] dependencies` of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in project["dependencies"]]


def closure(roots: list[Requirement]) -> dict[str, str]:
    """Canonical name to installed version of `roots` and their dependencies, without
    `UNPINNED` and what is reached only through them."""
    pinned: dict[str, str] = {}
    todo = [(req, "") for req in roots]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in UNPINNED:
            continue
        dist = metadata.distribution(req.name)
        first = name not in pinned
        pinned[name] = dist.version
        for line in dist.requires or []:
            child = Requirement(line)
            for wanted in ("", *sorted(req.extras)) if first else sorted(req.extras):
                todo.append((child, wanted))
    return pinned


def main() -> int:
    """Write the constraints file to stdout."""
    pins = closure(runtime_requirements())
    print("# Exact versions of the runtime dependencies and what they pull in, as tested;")
    print("# torch is left out (installed once per machine). Regenerate with")
    print("#   python3 deploy/scripts/constraints.py > deploy/constraints.txt")
    print("# Used by deploy/scripts/install.sh and deploy/Dockerfile (pip install -c).")
    for name in sorted(pins):
        print(f"{name}=={pins[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
