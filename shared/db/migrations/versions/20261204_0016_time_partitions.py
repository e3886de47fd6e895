"""time partitions: mentions, author keys and rollups range-partitioned on their time column

Each table becomes a partitioned parent of the same name and columns, with a DEFAULT
partition and one partition per day, month or year that holds rows (widths and names as
`shared/db/partitions.py`, copied here so this revision stays as it was written). Unique
keys must contain the partition key: `mentions` is now unique on (platform, external_id,
created_at) and keyed on (id, created_at); a post's created_at is fixed by its platform,
so a replay still meets the same key. The services create later partitions ahead.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from alembic import op
from sqlalchemy import text

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORMATS = {"day": "%Y%m%d", "month": "%Y%m", "year": "%Y"}

# table, time column, width, keys and indexes of the partitioned parent
_TABLES: tuple[tuple[str, str, str, list[str]], ...] = (
    (
        "mentions",
        "created_at",
        "day",
        [
            "ALTER TABLE mentions ADD CONSTRAINT mentions_pkey PRIMARY KEY (id, created_at)",
            "ALTER TABLE mentions ADD CONSTRAINT uq_mentions_platform_external_id "
            "UNIQUE (platform, external_id, created_at)",
            "CREATE INDEX ix_mentions_brand_created ON mentions (brand, created_at)",
            "CREATE INDEX ix_mentions_author ON mentions (author_id)",
            "CREATE INDEX ix_mentions_created ON mentions (created_at)",
            "CREATE INDEX ix_mentions_story ON mentions (story_id)",
        ],
    ),
    (
        "mention_rollup_authors",
        "minute",
        "day",
        [
            "ALTER TABLE mention_rollup_authors ADD CONSTRAINT mention_rollup_authors_pkey "
            "PRIMARY KEY (minute, author_key)"
        ],
    ),
    (
        "mention_rollups",
        "minute",
        "month",
        [
            "ALTER TABLE mention_rollups ADD CONSTRAINT mention_rollups_pkey "
            "PRIMARY KEY (brand, minute, topic, platform, language)"
        ],
    ),
    (
        "mention_rollups_hourly",
        "hour",
        "month",
        [
            "ALTER TABLE mention_rollups_hourly ADD CONSTRAINT mention_rollups_hourly_pkey "
            "PRIMARY KEY (brand, hour, topic, platform, language)"
        ],
    ),
    (
        "mention_rollups_daily",
        "day",
        "year",
        [
            "ALTER TABLE mention_rollups_daily ADD CONSTRAINT mention_rollups_daily_pkey "
            "PRIMARY KEY (brand, day, topic, platform, language)"
        ],
    ),
)

# The keys and indexes of the plain tables, for the downgrade.
_PLAIN: dict[str, list[str]] = {
    "mentions": [
        "ALTER TABLE mentions ADD CONSTRAINT mentions_pkey PRIMARY KEY (id)",
        "ALTER TABLE mentions ADD CONSTRAINT uq_mentions_platform_external_id "
        "UNIQUE (platform, external_id)",
        "CREATE INDEX ix_mentions_brand_created ON mentions (brand, created_at)",
        "CREATE INDEX ix_mentions_author ON mentions (author_id)",
        "CREATE INDEX ix_mentions_created ON mentions (created_at)",
        "CREATE INDEX ix_mentions_story ON mentions (story_id)",
    ],
}


def _following(start: datetime, width: str) -> datetime:
    if width == "day":
        return start + timedelta(days=1)
    if width == "year":
        return start.replace(year=start.year + 1)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def _literal(ts: datetime) -> str:
    return "'" + ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00") + "'"


def _partition(table: str, old: str, column: str, width: str) -> None:
    """Make `table` a partitioned copy of `old` with a DEFAULT and the partitions of its rows."""
    bind = op.get_bind()
    op.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED "
        f"INCLUDING STORAGE) PARTITION BY RANGE ({column})"
    )
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    starts = bind.execute(
        text(
            f"SELECT DISTINCT date_trunc('{width}', {column}, 'UTC') AS s FROM {old} "  # noqa: S608
            f"WHERE isfinite({column}) ORDER BY s"
        )
    ).scalars()
    for start in starts:
        start_utc = start.astimezone(UTC)
        name = f"{table}_p{start_utc.strftime(_FORMATS[width])}"
        op.execute(
            f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({_literal(start_utc)}) "
            f"TO ({_literal(_following(start_utc, width))})"
        )
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608


def upgrade() -> None:
    # The id sequence must outlive the old table it belongs to.
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY NONE")
    for table, column, width, keys in _TABLES:
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        _partition(table, old, column, width)
        op.execute(f"DROP TABLE {old}")  # frees the constraint and index names
        for statement in keys:
            op.execute(statement)
        op.execute(f"ANALYZE {table}")
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY mentions.id")


def downgrade() -> None:
    # Fails on the plain unique key if one post was stored under two created_at values.
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY NONE")
    for table, _, _, keys in _TABLES:
        old = f"{table}_partitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(
            f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING GENERATED "
            "INCLUDING STORAGE)"
        )
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")  # noqa: S608
        op.execute(f"DROP TABLE {old}")  # its partitions with it
        for statement in _PLAIN.get(table, keys):
            op.execute(statement)
    op.execute("ALTER SEQUENCE mentions_id_seq OWNED BY mentions.id")
