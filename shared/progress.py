"""Progress of long commands: the current step with a spinner and the time it has taken.

On a terminal the step is a live line on stderr; elsewhere (CI logs, pipes) each step is
one plain line on stderr, so a silent minute is never a mystery.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Step = Callable[[str], None]


@contextmanager
def steps(console: Console | None = None) -> Iterator[Step]:
    """Yield `step(text)`, which announces the step now under way."""
    console = console or Console(stderr=True)
    if not console.is_terminal:

        def plain(text: str) -> None:
            print(f"... {text}", file=sys.stderr, flush=True)

        yield plain
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def live(text: str) -> None:
            progress.update(task, description=text)

        yield live
