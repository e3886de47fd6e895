"""distinct-author pairs as 64-bit keys: (minute, author_key) instead of six text columns

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must equal services/sentiment/author_keys.author_key (a test compares them).
_KEY_FUNCTION = """
CREATE OR REPLACE FUNCTION crisiswatch_author_key(
    brand text, minute timestamptz, topic text, platform text, language text, author_id text
) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('x' || left(md5(concat_ws(chr(31), brand, topic, platform, language, author_id,
        extract(epoch FROM minute)::bigint::text)), 16))::bit(64)::bigint
$$
"""

# Every (minute rollup row, author) pair of the stored mentions. Rows stored with an
# infinite created_at (older releases let asyncpg turn year 1 and 9999 into +-infinity)
# belong to no minute and have no key.
_PAIRS = (
    "FROM mentions m "
    "CROSS JOIN LATERAL unnest(m.brands) AS b(brand) "
    "CROSS JOIN LATERAL unnest(ARRAY['']::varchar[] || m.topics) AS t(topic) "
    "WHERE isfinite(m.created_at)"
)
_MINUTE = "date_trunc('minute', m.created_at, 'UTC')"


def upgrade() -> None:
    op.execute(_KEY_FUNCTION)
    op.drop_table("mention_rollup_authors")
    op.create_table(
        "mention_rollup_authors",
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_key", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "author_key"),
    )
    op.execute(
        "INSERT INTO mention_rollup_authors (minute, author_key) "
        f"SELECT DISTINCT {_MINUTE}, crisiswatch_author_key(b.brand, {_MINUTE}, t.topic, "
        f"m.platform, m.language, m.author_id) {_PAIRS}"
    )


def downgrade() -> None:
    op.drop_table("mention_rollup_authors")
    op.create_table(
        "mention_rollup_authors",
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("brand", "minute", "topic", "platform", "language", "author_id"),
    )
    op.execute(
        "INSERT INTO mention_rollup_authors "
        f"SELECT DISTINCT b.brand, {_MINUTE}, t.topic, m.platform, m.language, m.author_id "
        f"{_PAIRS}"
    )
    op.execute("DROP FUNCTION IF EXISTS crisiswatch_author_key")
