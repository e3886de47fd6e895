"""The folders state the import graph: the contracts of docs/architecture.md hold.

`make lint` runs the same checks; here they also run with the test suite (CI runs only that).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _module_sizes() -> ModuleType:
    """deploy/scripts/module_sizes.py as a module (deploy/ is no package)."""
    spec = importlib.util.spec_from_file_location(
        "module_sizes", ROOT / "deploy" / "scripts" / "module_sizes.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml are kept (shared below services, ...)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports;"
            " sys.exit(lint_imports(no_cache=True, no_logo=True))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_cli_imports_tools_only_inside_its_commands() -> None:
    """The contracts let services.cli import tools; only lazily, so a service never loads them."""
    tree = ast.parse((ROOT / "services" / "cli.py").read_text(encoding="utf-8"))
    inside_functions = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
    }
    tool_imports = [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tools")
        or (
            isinstance(node, ast.Import)
            and any(alias.name.split(".")[0] == "tools" for alias in node.names)
        )
    ]
    assert tool_imports, "the CLI runs the bench and eval tools: their imports were not found"
    eager = [node.lineno for node in tool_imports if id(node) not in inside_functions]
    assert not eager, f"services/cli.py imports tools at module level on lines {eager}"


def test_no_module_is_over_the_size_limit() -> None:
    """deploy/scripts/module_sizes.py (run by `make lint`) finds no module over the limit."""
    assert _module_sizes().oversized() == []


def test_the_size_check_sees_big_modules_and_exempts_migrations(tmp_path: Path) -> None:
    """The size check counts lines under shared/, services/ and tools/, not migrations."""
    module = _module_sizes()
    for relative, lines in (
        ("services/big.py", 12),
        ("tools/small.py", 10),
        ("shared/db/migrations/versions/20260101_0001_big.py", 50),
    ):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n" * lines)
    assert module.oversized(tmp_path, max_lines=10) == [(Path("services/big.py"), 12)]
