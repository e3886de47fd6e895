"""The `RateLimit-*` headers follow the token bucket: limit, what is left, time to full."""

from __future__ import annotations

from shared.http.ratelimit import RateLimiter


def test_headers_follow_the_bucket() -> None:
    now = [100.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=4, clock=lambda: now[0])
    assert limiter.headers("k") == {
        "RateLimit-Limit": "4",
        "RateLimit-Remaining": "4",
        "RateLimit-Reset": "0",
        "RateLimit-Policy": "4;w=2",
    }
    for _ in range(4):
        assert limiter.take("k") == 0.0
    assert limiter.headers("k")["RateLimit-Remaining"] == "0"
    assert limiter.headers("k")["RateLimit-Reset"] == "2"  # 4 tokens at 2/s
    assert limiter.take("k") == 0.5
    now[0] += 1.0
    assert limiter.headers("k")["RateLimit-Remaining"] == "2"
    assert limiter.headers("k")["RateLimit-Reset"] == "1"
