"""What a consumer-group member hears when the group moves partitions (no Kafka client here)."""

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
