"""Group members heartbeat a third of their session timeout apart, at most a second."""

from __future__ import annotations

from shared.partitions import heartbeat_ms


def test_heartbeat_is_a_third_of_short_sessions_and_a_second_for_long_ones() -> None:
    assert heartbeat_ms(1_500) == 500
    assert heartbeat_ms(3_000) == 1_000
    assert heartbeat_ms(6_000) == 1_000
    assert heartbeat_ms(300_000) == 1_000


def test_heartbeat_never_drops_below_a_tenth_of_a_second() -> None:
    assert heartbeat_ms(150) == 100
