"""What a consumer-group member hears when the group moves partitions, and how often it asks
(no Kafka client here)."""

from __future__ import annotations

from typing import Protocol

TopicPartitions = list[tuple[str, int]]


class PartitionListener(Protocol):
    """Hears of partition moves (aiokafka's `ConsumerRebalanceListener`): `revoked` (every
    partition held) once fetching stopped, `assigned` before it resumes; every member's
    `revoked` ends before any member's `assigned`. aiokafka logs and swallows exceptions."""

    async def revoked(self, partitions: TopicPartitions) -> None:
        """The member gives up `partitions` (it may get some back in `assigned`)."""

    async def assigned(self, partitions: TopicPartitions) -> None:
        """The member holds `partitions` from now on."""


def heartbeat_ms(session_timeout_ms: int) -> int:
    """The heartbeat interval for a session timeout: a third of it, at most one second.

    Members learn of a rebalance from a heartbeat's answer, so the interval is how long a
    join or a departure waits for the others; a heartbeat a second costs the broker little.
    """
    return max(100, min(session_timeout_ms // 3, 1000))
