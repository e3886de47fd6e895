"""Engagement a negative post gained since it was last seen: what `updated` events bring. Pure.

A post that goes viral hours after it was written arrives again as `updated` events with
growing counts. Engagement velocity must see that spread when it happens, so the bins count
each update's *gain* (reach-weighted shares + replies above the most seen before) in the bin
of its arrival, not in the long-closed bin of the post's creation. `SpreadLedger` remembers,
per brand, the engagement last seen of each recent negative post:

- posts are remembered for `horizon_s` after they were written and at most `max_posts` of
  them (the most recently written win); an update of a post older than that gains nothing;
- the first update of a post the ledger does not know (written before the brand's detectors
  started, evicted, or not negative when written) only records its counts: counting them all
  at once would turn a backlog of refreshed counts into a false spike.
"""

from __future__ import annotations

from typing import Any

HORIZON_S = 48 * 3600.0
MAX_POSTS = 10_000
SWEEP_EVERY_S = 3600.0


class SpreadLedger:
    """Reach-weighted engagement last seen per recent negative post of one brand."""

    def __init__(self, *, horizon_s: float = HORIZON_S, max_posts: int = MAX_POSTS) -> None:
        self.horizon_s = horizon_s
        self.max_posts = max_posts
        self.posts: dict[str, tuple[float, float]] = {}  # key -> (written at, engagement)
        self._swept = float("-inf")

    def __len__(self) -> int:
        return len(self.posts)

    def record(self, key: str, *, written: float, engagement: float) -> None:
        """Remember a new post's engagement (counted in its own bin by the caller)."""
        seen = self.posts.get(key)
        self.posts[key] = (written, max(engagement, seen[1] if seen else 0.0))
        self._bound()

    def gain(self, key: str, *, written: float, engagement: float, now: float) -> float:
        """Return the engagement gained since the post was last seen (0 when unknown or old)."""
        if written < now - self.horizon_s:
            self.posts.pop(key, None)
            return 0.0
        seen = self.posts.get(key)
        self.posts[key] = (written, max(engagement, seen[1] if seen else 0.0))
        self._bound()
        if seen is None:
            return 0.0
        return max(0.0, engagement - seen[1])

    def _bound(self) -> None:
        if len(self.posts) <= self.max_posts:
            return
        # Rare (once per max_posts / 10 new posts): keep the most recently written 90%.
        newest = sorted(self.posts.items(), key=lambda kv: kv[1][0], reverse=True)
        self.posts = dict(newest[: self.max_posts * 9 // 10])

    def sweep(self, now: float) -> None:
        """Forget posts written more than `horizon_s` before `now` (at most once an hour)."""
        if now - self._swept < SWEEP_EVERY_S:
            return
        self._swept = now
        oldest = now - self.horizon_s
        self.posts = {k: v for k, v in self.posts.items() if v[0] >= oldest}

    def to_dict(self) -> dict[str, Any]:
        """Return the remembered posts as a JSON-ready dict (seconds, centi-engagement)."""
        # Rounded: the state is saved at every checkpoint, and a share is 1.0 or more.
        return {
            k: [round(written), round(engaged, 2)] for k, (written, engaged) in self.posts.items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpreadLedger:
        """Rebuild from `to_dict` output."""
        ledger = cls()
        ledger.posts = {str(k): (float(v[0]), float(v[1])) for k, v in data.items()}
        return ledger
