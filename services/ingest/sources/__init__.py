"""Connectors: one module per platform, each a `Source` (see `base.py`)."""
