"""One exception root: every exception class in shared/, services/, tools/ is a CrisiswatchError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

from shared.errors import CrisiswatchError

PACKAGES = ("shared", "services", "tools")
# Alembic's env.py runs migrations when imported; the revisions define no classes.
SKIPPED = ("shared.db.migrations",)


def _modules() -> Iterator[str]:
    for package in PACKAGES:
        yield package
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if info.name.startswith(SKIPPED) or info.name.endswith(".__main__"):
                continue
            yield info.name


def _exception_classes() -> Iterator[type[BaseException]]:
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == name and issubclass(value, BaseException):
                yield value


def test_every_exception_class_derives_from_the_root() -> None:
    """So the CLI and the HTTP edge can map each of them, and none escapes as a traceback."""
    found = list(_exception_classes())
    assert len(found) >= 15, f"the walk found too few exception classes: {found}"
    outside = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in found
        if not issubclass(cls, CrisiswatchError)
    )
    assert outside == []
