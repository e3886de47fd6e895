"""Persistence, cooldown and re-arm shared by the online detectors: one page per episode."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(slots=True)
class Debounce:
    """Fire once when a condition holds for `k` consecutive bins, then stay quiet.

    After firing, the detector is silent for `cooldown_s` seconds *and* until the
    condition has been calm for `calm_k` consecutive bins (re-armed), so a long crisis
    pages once, not every hour.
    """

    streak: int = 0
    last_fire: float | None = None
    armed: bool = True
    last_ts: float | None = None
    calm_streak: int = 0

    def step(
        self,
        ts: float,
        hot: bool,
        burst: bool,
        calm: bool,
        *,
        k: int,
        cooldown_s: float,
        max_gap_s: float,
        calm_k: int = 1,
    ) -> bool:
        """Advance one bin; return True when an alert should fire now."""
        if self.last_ts is not None and ts - self.last_ts > max_gap_s:
            self.streak = 0
            self.calm_streak = 0
        self.last_ts = ts
        self.streak = self.streak + 1 if hot else 0
        self.calm_streak = self.calm_streak + 1 if calm else 0
        if self.calm_streak >= calm_k:
            self.armed = True
        cooling = self.last_fire is not None and ts - self.last_fire < cooldown_s
        if cooling or not self.armed:
            return False
        if burst or self.streak >= k:
            self.last_fire = ts
            self.armed = False
            self.streak = 0
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        """Return the state as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Debounce:
        """Rebuild from `to_dict` output."""
        return cls(**data)
