"""Push signatures (HMAC, replay window, replays), API keys, Meta signatures, the seen cache."""

from __future__ import annotations

from pydantic import SecretStr

from services.ingest.core.dedupe import SeenCache
from services.ingest.sources.push_auth import (
    PushAuthenticator,
    check_hub_signature,
    hub_signature,
    is_database_key,
    presented_key,
    sign,
)

SECRET = SecretStr("s3cret-s3cret-s3cret")
BODY = b'[{"platform":"x"}]'


def _auth(required: bool = True) -> PushAuthenticator:
    return PushAuthenticator(
        secret=SECRET, api_keys=[SecretStr("key-1")], max_age_s=300, required=required
    )


def _headers(ts: int, body: bytes = BODY, secret: bytes = b"s3cret-s3cret-s3cret") -> dict:
    return {"x-crisiswatch-timestamp": str(ts), "x-crisiswatch-signature": sign(secret, ts, body)}


def test_valid_signature_passes_once() -> None:
    auth = _auth()
    assert auth.check(_headers(1000), BODY, now=1000) == ""
    assert "replay" in auth.check(_headers(1000), BODY, now=1001)


def test_wrong_expired_missing() -> None:
    auth = _auth()
    assert "does not match" in auth.check(_headers(1000, secret=b"other"), BODY, now=1000)
    assert "does not match" in auth.check(_headers(1000), BODY + b" ", now=1000)
    assert "window" in auth.check(_headers(1000), BODY, now=1000 + 301)
    assert "window" in auth.check(_headers(2000), BODY, now=1000)
    headers = _headers(1000)
    del headers["x-crisiswatch-timestamp"]
    assert "Timestamp" in auth.check(headers, BODY, now=1000)
    assert auth.check({}, BODY) == "authentication required"
    assert _auth(required=False).check({}, BODY) == ""


def test_api_keys() -> None:
    auth = _auth()
    assert auth.check({"x-api-key": "key-1"}, BODY) == ""
    assert auth.check({"x-api-key": "key-2"}, BODY) == "unknown API key"
    assert auth.check({"authorization": "Bearer key-1"}, BODY) == ""
    assert auth.check({"authorization": "Bearer key-2"}, BODY) == "unknown API key"
    assert auth.check({"authorization": "Basic a2V5LTE="}, BODY) == "authentication required"


def test_every_credential_presented_must_be_valid() -> None:
    auth = _auth()
    assert auth.check({**_headers(1000), "x-api-key": "key-1"}, BODY, now=1000) == ""
    assert auth.check({**_headers(1001), "x-api-key": "nope"}, BODY, now=1001) == (
        "unknown API key"
    )
    bad_signature = {**_headers(1002, secret=b"other"), "x-api-key": "key-1"}
    assert "does not match" in auth.check(bad_signature, BODY, now=1002)


def test_database_keys_are_left_to_authenticate() -> None:
    """A `cwk_` key counts as a credential here; `authenticate` verifies it in the database."""
    assert presented_key({"x-api-key": "cwk_0123456789ab_s"}) == "cwk_0123456789ab_s"
    assert is_database_key("cwk_0123456789ab_s") and not is_database_key("key-1")
    assert _auth().check({"authorization": "Bearer cwk_0123456789ab_s"}, BODY) == ""


def test_meta_signature() -> None:
    header = hub_signature(b"app", BODY)
    assert check_hub_signature(b"app", BODY, header)
    assert not check_hub_signature(b"app", BODY + b"x", header)
    assert not check_hub_signature(b"app", BODY, None)


def test_seen_cache_bounded_and_expiring() -> None:
    now = [0.0]
    cache = SeenCache(max_items=3, ttl_s=10, clock=lambda: now[0])
    for i in range(5):
        cache.put(i, i)
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) == 4
    now[0] = 11
    assert cache.get(4) is None
    cache.put(9, 9)  # a put after the time-to-live drops the expired entries
    assert len(cache) == 1 and cache.get(9) == 9


def test_pushes_need_a_credential_unless_explicitly_opened(monkeypatch) -> None:
    """Default settings refuse an anonymous push; a database key alone is enough config."""
    from shared.settings.ingest import IngestSettings

    monkeypatch.delenv("CRISISWATCH_INGEST_REQUIRE_AUTH", raising=False)
    default = PushAuthenticator.from_settings(IngestSettings(_env_file=None))
    assert default.check({}, BODY) == "authentication required"
    assert default.check({"x-api-key": "cwk_abc_def"}, BODY) == ""  # verified against the DB
    opened = IngestSettings(_env_file=None, ingest_require_auth=False)
    assert PushAuthenticator.from_settings(opened).check({}, BODY) == ""


def test_the_retired_api_switch_is_refused(monkeypatch) -> None:
    import pytest

    from shared.errors import ConfigError
    from shared.settings.api import ApiSettings

    monkeypatch.setenv("CRISISWATCH_API_REQUIRE_AUTH", "true")
    with pytest.raises(ConfigError, match="CRISISWATCH_INGEST_REQUIRE_AUTH"):
        ApiSettings(_env_file=None)
