"""Keys of the `detector_state` rows: one per (brand, topic, rule). Pure."""

from __future__ import annotations


def state_key(brand: str, topic: str, rule: str) -> str:
    """Return the `detector_state` key of a (brand, topic, rule)."""
    return f"{brand}|{topic}|{rule}"


def split_key(key: str) -> tuple[str, str, str]:
    """Split a `state_key` back into (brand, topic, rule)."""
    brand, topic, rule = key.rsplit("|", 2)
    return brand, topic, rule
