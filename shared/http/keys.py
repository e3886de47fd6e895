"""API keys: a random secret shown once, stored as a salted SHA-256 hash, looked up by prefix.

A key reads `cwk_<prefix>_<secret>`: the 12-hex-digit prefix finds the row, the whole key
is hashed with the row's salt and compared in constant time. Secrets carry 256 bits of
entropy, so a fast salted hash is enough (a slow KDF would only slow every request).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.config_models import ApiKeyRow
from shared.errors import BadInput, NotFound
from shared.http import audit
from shared.settings.common import CommonSettings

Role = Literal["viewer", "responder", "admin", "ingest"]
ROLES: tuple[str, ...] = get_args(Role)
# viewer < responder < admin; `ingest` may only push mentions (admin may too).
ROLE_RANK: dict[str, int] = {"ingest": 0, "viewer": 1, "responder": 2, "admin": 3}
KEY_SCHEME = "cwk"
_DUMMY_HASH = "0" * 16 + "$" + "0" * 64
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: key id, name and role."""

    key_id: int
    name: str
    role: str
    prefix: str

    @property
    def actor(self) -> str:
        """How the caller appears in audit entries and incident timelines."""
        return f"key:{self.key_id}:{self.name}"[:128]


class ApiKeyCreate(BaseModel):
    """Input of `POST /v1/keys`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, examples=["grafana-readonly"])
    role: Role = Field(examples=["viewer"])


class ApiKeyRead(BaseModel):
    """An API key as listed (never the secret)."""

    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    """A new key: `secret` is shown this once and cannot be recovered."""

    secret: str = Field(examples=["cwk_1a2b3c4d5e6f_Zx3..."])


def hash_key(secret: str, salt: str) -> str:
    """The stored form `salt$hex(sha256(salt:secret))`."""
    digest = hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()
    return f"{salt}${digest}"


def split_key(secret: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def _to_read(row: ApiKeyRow) -> ApiKeyRead:
    return ApiKeyRead(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        role=row.role,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


async def create_key(
    session: AsyncSession, name: str, role: str, *, actor: str = "cli"
) -> tuple[int, str]:
    """Create a key; return (id, secret); the secret is not stored and cannot be shown again."""
    if role not in ROLES:
        raise BadInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if not name or len(name) > 128:
        raise BadInput("name must have 1 to 128 characters")
    prefix = secrets.token_hex(6)
    secret = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKeyRow(
        name=name, prefix=prefix, key_hash=hash_key(secret, secrets.token_hex(8)), role=role
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="key.create",
        target=f"key:{row.id}",
        details={"name": name, "role": role, "prefix": prefix},
    )
    return int(row.id), secret


async def revoke_key(session: AsyncSession, key_id: int, *, actor: str = "cli") -> ApiKeyRead:
    """Revoke a key (idempotent); raise `NotFound` for an unknown id."""
    row = await session.get(ApiKeyRow, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await audit.record(
            session,
            actor=actor,
            action="key.revoke",
            target=f"key:{key_id}",
            details={"name": row.name},
        )
    await session.flush()
    return _to_read(row)


async def list_keys(session: AsyncSession, *, include_revoked: bool = True) -> list[ApiKeyRead]:
    """Every key, newest first (hashes and secrets are never returned)."""
    stmt = select(ApiKeyRow).order_by(ApiKeyRow.id.desc())
    if not include_revoked:
        stmt = stmt.where(ApiKeyRow.revoked_at.is_(None))
    return [_to_read(r) for r in (await session.scalars(stmt)).all()]


async def get_key_read(session: AsyncSession, key_id: int) -> ApiKeyRead:
    """One key's listing row; raise `NotFound` for an unknown id."""
    row = await session.get(ApiKeyRow, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    return _to_read(row)


async def authenticate(session: AsyncSession, secret: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None (constant-time hash compare)."""
    prefix = split_key(secret)
    row = None
    if prefix is not None:
        row = await session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.prefix == prefix, ApiKeyRow.revoked_at.is_(None))
        )
    stored = row.key_hash if row is not None else _DUMMY_HASH
    salt = stored.split("$", 1)[0]
    # Always hash and compare, so an unknown prefix takes as long as a wrong secret.
    matches = hmac.compare_digest(hash_key(secret, salt), stored)
    if row is None or not matches:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
        await session.execute(
            update(ApiKeyRow).where(ApiKeyRow.id == row.id).values(last_used_at=now)
        )
    return Principal(key_id=int(row.id), name=row.name, role=row.role, prefix=row.prefix)


def apikey_cli(
    settings: CommonSettings,
    action: str,
    name: str | None = None,
    role: str | None = None,
    key_id: int | None = None,
) -> int:
    """`crisiswatch apikey create|revoke|list`: print JSON, return the exit code."""
    from shared.db.engine import create_engine, transaction

    async def run() -> object:
        engine = create_engine(settings)
        try:
            async with transaction(engine) as session:
                if action == "create":
                    if not name or not role:
                        raise BadInput("apikey create needs --name and --role")
                    new_id, secret = await create_key(session, name, role, actor="cli")
                    return {
                        "id": new_id,
                        "name": name,
                        "role": role,
                        "secret": secret,
                        "note": "store the secret now: it is shown only once",
                    }
                if action == "revoke":
                    if key_id is None:
                        raise BadInput("apikey revoke needs --key-id")
                    return (await revoke_key(session, key_id, actor="cli")).model_dump(mode="json")
                if action == "list":
                    return [k.model_dump(mode="json") for k in await list_keys(session)]
                raise BadInput(f"unknown action {action!r}: use create, revoke or list")
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except (BadInput, NotFound) as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    print(json.dumps(result, indent=2))
    return 0
