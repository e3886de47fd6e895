"""Keep a long-running process's start-up objects out of the cyclic garbage collector."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now into the collector's permanent set.

    What a service loads at start-up (models, lexicons, settings, modules) lives as long as
    the process; without this, each full collection walks all of it again, which costs
    the hot loops ~10% of their CPU and stalls requests for tens of milliseconds.
    """
    gc.collect()
    gc.freeze()
