"""An in-memory token bucket per API key: 429 with Retry-After when a key runs dry.

Every answer to a key carries its quota in the `RateLimit-*` headers of the IETF draft
(`RateLimit-Limit`: the burst; `RateLimit-Remaining`: requests left now;
`RateLimit-Reset`: seconds until the bucket is full again; `RateLimit-Policy`:
`<burst>;w=<seconds to refill it>`).

The buckets live in each API process: with N replicas behind a load balancer a key may
send up to N times the configured rate. Size `api_rate_per_s` and `api_rate_burst` per
replica (documented in the API description and the settings reference).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by API key prefix; `take` answers how long to wait, 0 when allowed."""

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """Consume `cost` tokens for `key`; return 0 when allowed, else seconds until allowed."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets.clear()  # bounded memory; revoked keys never come back anyway
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate_per_s

    def headers(self, key: str) -> dict[str, str]:
        """The `RateLimit-*` headers of `key`'s bucket now (a full bucket if unseen)."""
        bucket = self._buckets.get(key)
        tokens = float(self.burst)
        if bucket is not None:
            elapsed = self._clock() - bucket.updated
            tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_s)
        return {
            "RateLimit-Limit": str(self.burst),
            "RateLimit-Remaining": str(max(0, math.floor(tokens))),
            "RateLimit-Reset": str(math.ceil((self.burst - tokens) / self.rate_per_s)),
            "RateLimit-Policy": f"{self.burst};w={math.ceil(self.burst / self.rate_per_s)}",
        }

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        """Whole seconds for the Retry-After header (at least 1)."""
        return str(max(1, math.ceil(wait_s)))
