"""Configuration and access tables: API keys and the audit log, watchlists, brand settings,
rules, campaigns, playbooks, and Slack's request replay table.

The data the pipeline produces (mentions, stories, rollups, incidents, the outbox...) is in
`shared.db.models`; both share its declarative `Base`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.models import TZ, Base


class ApiKeyRow(Base):
    """An API key, stored as a hash; the secret is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(TZ)
    last_used_at: Mapped[datetime | None] = mapped_column(TZ)


class AuditLogRow(Base):
    """Who changed what (rules, incidents, keys, watchlists, erasures)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class WatchlistRow(Base):
    """A brand's watchlist as validated YAML content."""

    __tablename__ = "watchlists"

    brand: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class BrandSettingsRow(Base):
    """A brand's detection preset and notification routes (unset: the service defaults)."""

    __tablename__ = "brand_settings"

    brand: Mapped[str] = mapped_column(String(64), primary_key=True)
    preset: Mapped[str | None] = mapped_column(String(16))
    routes: Mapped[dict[str, list[str]]] = mapped_column(JSONB, default=dict)
    # Dismissals before the preset last changed no longer count towards a proposal.
    preset_changed_at: Mapped[datetime | None] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class RuleRow(Base):
    """A crisis rule configuration for one brand (or all brands when brand is '*')."""

    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    brand: Mapped[str] = mapped_column(String(64), default="*")
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class CampaignRow(Base):
    """A planned launch or campaign that lifts a brand's expected volume."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_brand_time", "brand", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    starts_at: Mapped[datetime] = mapped_column(TZ)
    ends_at: Mapped[datetime] = mapped_column(TZ)
    expected_lift: Mapped[float] = mapped_column(Float, default=3.0)


class SlackRequestRow(Base):
    """A Slack request already accepted (its v0 signature), kept to refuse replays."""

    __tablename__ = "slack_requests"
    __table_args__ = (Index("ix_slack_requests_received", "received_at"),)

    signature: Mapped[str] = mapped_column(String(80), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class PlaybookRow(Base):
    """A response playbook as validated content; one per incident category."""

    __tablename__ = "playbooks"
    __table_args__ = (UniqueConstraint("category", name="uq_playbooks_category"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
