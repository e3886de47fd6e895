"""An audit of the alerting workers' writes, taken by PostgreSQL triggers at write time.

For the brands of one test, every committed insert or update of `detector_state` and every
insert of `signals` and `incidents` is recorded with the writing session's
`application_name` (an alerting worker names its sessions with its owner id) and the owner
and epoch of the brand's partition in `partition_owners` as the writing statement sees
them. A checkpoint share-locks those rows before it writes, so the recorded owner is the
owner at the moment of the write: a row whose writer is not that owner was written by a
worker that had lost the partition. Rolled-back writes leave no audit row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_AUDITED = (
    ("detector_state", "INSERT OR UPDATE", "split_part(NEW.key, '|', 1)"),
    ("signals", "INSERT", "NEW.brand"),
    ("incidents", "INSERT", "NEW.brand"),
)


@dataclass(frozen=True, slots=True)
class Write:
    """One audited write: table, brand, writing session, partition owner and epoch then."""

    table: str
    brand: str
    writer: str
    owner: str | None
    epoch: int | None

    @property
    def by_owner(self) -> bool:
        """True when the writer owned the brand's partition when it wrote."""
        return self.owner is not None and self.writer == self.owner[:63]


@dataclass(frozen=True, slots=True)
class WriteAudit:
    """Triggers and tables named after `name` (unique per test)."""

    name: str
    topic: str

    async def install(self, engine: AsyncEngine, partitions: Mapping[str, int]) -> None:
        """Start auditing the writes for the brands of `partitions` (brand -> partition)."""
        n = self.name
        statements = [
            f"CREATE TABLE {n}_partition (brand text PRIMARY KEY, partition int NOT NULL)",
            f"CREATE TABLE {n}_writes (id bigserial PRIMARY KEY, tbl text, brand text, "
            "writer text, owner text, epoch bigint)",
        ]
        for table, events, brand in _AUDITED:
            statements += [
                f"""CREATE FUNCTION {n}_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
                DECLARE b text := {brand}; o text; e bigint;
                BEGIN
                  IF NOT EXISTS (SELECT 1 FROM {n}_partition WHERE brand = b) THEN
                    RETURN NULL;
                  END IF;
                  SELECT po.owner, po.epoch INTO o, e FROM partition_owners po
                    JOIN {n}_partition m ON m.partition = po.partition
                    WHERE po.topic = '{self.topic}' AND m.brand = b;
                  INSERT INTO {n}_writes (tbl, brand, writer, owner, epoch)
                    VALUES (TG_TABLE_NAME, b, current_setting('application_name'), o, e);
                  RETURN NULL;
                END $$""",
                f"CREATE TRIGGER {n}_{table} AFTER {events} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {n}_{table}()",
            ]
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
            await conn.execute(
                text(f"INSERT INTO {n}_partition (brand, partition) VALUES (:b, :p)"),
                [{"b": b, "p": p} for b, p in partitions.items()],
            )

    async def writes(self, engine: AsyncEngine) -> list[Write]:
        """Every audited write so far, in commit-visible order of insertion."""
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(f"SELECT tbl, brand, writer, owner, epoch FROM {self.name}_writes ORDER BY id")
            )
            return [Write(*row) for row in rows.all()]

    async def remove(self, engine: AsyncEngine) -> None:
        """Drop the triggers, functions and tables."""
        async with engine.begin() as conn:
            for table, _, _ in _AUDITED:
                await conn.execute(text(f"DROP TRIGGER IF EXISTS {self.name}_{table} ON {table}"))
                await conn.execute(text(f"DROP FUNCTION IF EXISTS {self.name}_{table}()"))
            for suffix in ("partition", "writes"):
                await conn.execute(text(f"DROP TABLE IF EXISTS {self.name}_{suffix}"))
