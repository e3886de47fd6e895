"""Table definitions (SQLAlchemy 2 declarative). Migrations in `migrations/` create them.

ORM objects stay inside the services: they never travel over HTTP or Kafka.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every crisiswatch table."""


TZ = DateTime(timezone=True)


class MentionRow(Base):
    """A mention with its enrichment; unique on (platform, external_id, created_at).

    Partitioned by UTC day of `created_at` (shared/db/partitions.py): keys hold the
    partition key, and a post's created_at is fixed by its platform.
    """

    __tablename__ = "mentions"
    __table_args__ = (
        PrimaryKeyConstraint("id", "created_at", name="mentions_pkey"),
        UniqueConstraint(
            "platform", "external_id", "created_at", name="uq_mentions_platform_external_id"
        ),
        Index("ix_mentions_brand_created", "brand", "created_at"),
        Index("ix_mentions_author", "author_id"),
        Index("ix_mentions_created", "created_at"),
        Index("ix_mentions_story", "story_id"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(256))
    brand: Mapped[str] = mapped_column(String(64))
    brands: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    url: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(128))
    author_handle: Mapped[str | None] = mapped_column(String(256))
    author_reach: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    language_hint: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TZ, primary_key=True)
    ingested_at: Mapped[datetime] = mapped_column(TZ)
    scored_at: Mapped[datetime] = mapped_column(TZ)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    replies: Mapped[int] = mapped_column(BigInteger, default=0)
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    in_reply_to: Mapped[str | None] = mapped_column(String(256))
    quote_of: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str] = mapped_column(String(16))
    language_confidence: Mapped[float] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(16))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    sentiment_confidence: Mapped[float | None] = mapped_column(Float)
    scorer: Mapped[str | None] = mapped_column(String(64))
    emotion: Mapped[str | None] = mapped_column(String(16))
    emotions: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict)
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    source: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    markets: Mapped[list[str]] = mapped_column(ARRAY(String(2)), default=list, server_default="{}")
    story_id: Mapped[str | None] = mapped_column(String(64))


class StoryRow(Base):
    """A story: mentions of one brand about the same thing, summarised as they arrive."""

    __tablename__ = "stories"
    __table_args__ = (Index("ix_stories_brand_last_seen", "brand", "last_seen"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text, server_default="")
    top_phrases: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    languages: Mapped[list[str]] = mapped_column(ARRAY(String(16)), server_default="{}")
    first_seen: Mapped[datetime] = mapped_column(TZ)
    last_seen: Mapped[datetime] = mapped_column(TZ)
    volume: Mapped[int] = mapped_column(BigInteger, server_default="0")
    negative: Mapped[int] = mapped_column(BigInteger, server_default="0")
    negative_share: Mapped[float | None] = mapped_column(
        Float, Computed("negative::float8 / GREATEST(volume, 1)", persisted=True)
    )
    # language -> {"mention": key, "text": excerpt, "similarity": to the centroid}
    representatives: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    merged_into: Mapped[str | None] = mapped_column(String(64))
    # The brand's background: its ordinary talk (chatter, adverts), never an incident's story.
    background: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class StoryStateRow(Base):
    """A brand's story clustering state (`core.story_snapshot`), saved by the sentiment
    worker so that its open stories outlive a restart or a partition move."""

    __tablename__ = "story_states"

    brand: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")  # +1 per save
    writer: Mapped[str] = mapped_column(Text)  # the worker that saved it
    saved_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class _RollupMeasures:
    """Additive measures shared by the minute, hour and day rollups."""

    brand: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    volume: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
    unscored: Mapped[int] = mapped_column(Integer, default=0)
    sentiment_sum: Mapped[float] = mapped_column(Float, default=0.0)
    anger: Mapped[float] = mapped_column(Float, default=0.0)
    fear: Mapped[float] = mapped_column(Float, default=0.0)
    sadness: Mapped[float] = mapped_column(Float, default=0.0)
    joy: Mapped[float] = mapped_column(Float, default=0.0)
    surprise: Mapped[float] = mapped_column(Float, default=0.0)
    disgust: Mapped[float] = mapped_column(Float, default=0.0)
    engagement: Mapped[int] = mapped_column(BigInteger, default=0)
    reach: Mapped[int] = mapped_column(BigInteger, default=0)


class RollupRow(_RollupMeasures, Base):
    """Per-minute aggregates per brand and dimension; topic '' means all topics."""

    __tablename__ = "mention_rollups"
    __table_args__ = (
        PrimaryKeyConstraint("brand", "minute", "topic", "platform", "language"),
        {"postgresql_partition_by": "RANGE (minute)"},  # by month
    )

    minute: Mapped[datetime] = mapped_column(TZ, primary_key=True)
    distinct_authors: Mapped[int] = mapped_column(Integer, default=0)


class RollupAuthorRow(Base):
    """Each author seen per minute rollup row, as a 64-bit key of (row, author).

    Distinct authors grow only by new rows; see services/sentiment/author_keys.py.
    """

    __tablename__ = "mention_rollup_authors"
    __table_args__ = (
        PrimaryKeyConstraint("minute", "author_key"),
        {"postgresql_partition_by": "RANGE (minute)"},  # by day, dropped with retention
    )

    minute: Mapped[datetime] = mapped_column(TZ)
    author_key: Mapped[int] = mapped_column(BigInteger)


class HourlyRollupRow(_RollupMeasures, Base):
    """The minute rollups summed per hour: long-range trends read these."""

    __tablename__ = "mention_rollups_hourly"
    __table_args__ = (
        PrimaryKeyConstraint("brand", "hour", "topic", "platform", "language"),
        {"postgresql_partition_by": "RANGE (hour)"},  # by month
    )

    hour: Mapped[datetime] = mapped_column(TZ, primary_key=True)


class DailyRollupRow(_RollupMeasures, Base):
    """The minute rollups summed per UTC day."""

    __tablename__ = "mention_rollups_daily"
    __table_args__ = (
        PrimaryKeyConstraint("brand", "day", "topic", "platform", "language"),
        {"postgresql_partition_by": "RANGE (day)"},  # by year
    )

    day: Mapped[datetime] = mapped_column(TZ, primary_key=True)


class IncidentRow(Base):
    """One crisis story of a brand: at most one open per story (per (brand, topic) without).

    A merged incident is resolved with `merged_into` naming the incident that absorbed it.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "uq_incidents_open_story",
            "brand",
            "story_id",
            unique=True,
            postgresql_where=text("status <> 'resolved' AND story_id IS NOT NULL"),
        ),
        Index(
            "uq_incidents_open_topic",
            "brand",
            "topic",
            unique=True,
            postgresql_where=text("status <> 'resolved' AND story_id IS NULL"),
        ),
        Index("ix_incidents_opened", "opened_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64), default="")
    category: Mapped[str] = mapped_column(String(64), default="generic")
    rule: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="open")
    severity: Mapped[str] = mapped_column(String(8), default="SEV3")
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(128))
    opened_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    acknowledged_at: Mapped[datetime | None] = mapped_column(TZ)
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    snoozed_until: Mapped[datetime | None] = mapped_column(TZ)
    # Set when a responder dismissed the incident as a false positive (it is then resolved).
    dismissed_at: Mapped[datetime | None] = mapped_column(TZ)
    dismissal_reason: Mapped[str | None] = mapped_column(Text)
    signal_count: Mapped[int] = mapped_column(Integer, default=1)
    mention_count: Mapped[int] = mapped_column(Integer, default=0)
    peak_score: Mapped[float] = mapped_column(Float, default=0.0)
    playbook: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    reasons: Mapped[list[str]] = mapped_column(JSONB, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    story_id: Mapped[str | None] = mapped_column(String(64))
    merged_into: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("incidents.id", ondelete="SET NULL")
    )

    @property
    def projection(self) -> dict[str, Any] | None:
        """The latest projection of its story's volume (kept in `details`), if any."""
        data = (self.details or {}).get("projection")
        return data if isinstance(data, dict) else None


class IncidentEventRow(Base):
    """The timeline of an incident: signals, status changes, notes, notifications."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128), default="system")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class SignalRow(Base):
    """A detector firing (spike, surge, burst, keyword); grouped into incidents."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_brand_at", "brand", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64), default="")
    rule: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(TZ)
    score: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    baseline: Mapped[float] = mapped_column(Float, default=0.0)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class DetectorStateRow(Base):
    """Serialized detector state, so detection survives restarts."""

    __tablename__ = "detector_state"

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class PartitionOwnerRow(Base):
    """The alerting worker that owns a partition of `mentions.scored`, and its epoch.

    A worker bumps `epoch` when it is assigned the partition; its state writes and incident
    changes check the epoch in the same transaction, so a worker that lost it is fenced.
    """

    __tablename__ = "partition_owners"

    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class OutboxRow(Base):
    """A notification to deliver; `dedupe_key` makes a retried enqueue a no-op.

    Status: `held` (waits for the digest), `pending` (due at `next_attempt_at`), `sending`
    (claimed by `claimed_by` until `next_attempt_at`, the lease; a crashed dispatcher's rows
    are taken over when it expires), then `sent`, `failed` or `digested`. `in_doubt` marks a
    row whose earlier attempt may have reached the receiver: it is confirmed before a resend.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        CheckConstraint(
            "status IN ('held', 'pending', 'sending', 'sent', 'failed', 'digested')",
            name="ck_outbox_status",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(256))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(TZ)
    first_attempt_at: Mapped[datetime | None] = mapped_column(TZ)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class PlaybookRunRow(Base):
    """A playbook started for an incident."""

    __tablename__ = "playbook_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    playbook: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class PlaybookStepRow(Base):
    """One step of a playbook run, with its owner role and due time."""

    __tablename__ = "playbook_steps"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    owner_role: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(TZ)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    overdue_notified_at: Mapped[datetime | None] = mapped_column(TZ)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ConnectorCursorRow(Base):
    """Where a polling or streaming connector resumes after a restart."""

    __tablename__ = "connector_cursors"

    source: Mapped[str] = mapped_column(String(256), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class ConnectorLeaseRow(Base):
    """Which ingest replica runs a connector: `token` grows with every grant (the fence)."""

    __tablename__ = "connector_leases"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(256))
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(TZ)
    acquired_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class IncidentReviewRow(Base):
    """The post-incident review written when an incident closes."""

    __tablename__ = "incident_reviews"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    summary: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class DigestRow(Base):
    """A brand digest claimed for one period: the unique key makes it sent at most once."""

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("brand", "period", "period_start", name="uq_digests_brand_period"),
        CheckConstraint("period IN ('daily', 'weekly')", name="ck_digests_period"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(TZ)
    period_end: Mapped[datetime] = mapped_column(TZ)
    claimed_by: Mapped[str] = mapped_column(String(64))
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
