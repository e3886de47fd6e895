"""The tuning-proposal policy is the alerting settings': how many dismissals in how many
days propose a less sensitive preset, starting from the configured default preset."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.api.conftest import RunningApi


@pytest.fixture
def api_alerting() -> dict[str, Any]:
    return {
        "alerting_preset": "sensitive",
        "alerting_proposal_min_dismissals": 2,
        "alerting_proposal_days": 3,
    }


async def test_the_configured_policy_decides_when_a_preset_is_proposed(
    api: RunningApi, make_incident: Any, unique: str
) -> None:
    brand = f"policy-{unique}"
    url = f"/v1/brands/{brand}/proposals"
    async with api.client("responder") as responder:
        for expected in (0, 1):
            incident = await make_incident(brand=brand, severity="SEV3", rule="volume_spike")
            resp = await responder.post(
                f"/v1/incidents/{incident}/dismiss", json={"reason": "planned launch"}
            )
            assert resp.status_code == 200, resp.text
            proposals = (await responder.get(url)).json()
            assert len(proposals) == expected, proposals
        assert proposals[0]["dismissals"] == 2
        assert (proposals[0]["current_preset"], proposals[0]["proposed_preset"]) == (
            "sensitive",
            "balanced",
        )


async def test_sustained_rise_dismissals_propose_a_preset_too(
    api: RunningApi, make_incident: Any, unique: str
) -> None:
    """The preset also sets the sustained-rise detector, so its false alerts count."""
    brand = f"burns-{unique}"
    async with api.client("responder") as responder:
        for rule in ("sustained_rise", "sustained_rise", "rule:mine"):
            incident = await make_incident(brand=brand, severity="SEV3", rule=rule)
            resp = await responder.post(
                f"/v1/incidents/{incident}/dismiss", json={"reason": "seasonal sale traffic"}
            )
            assert resp.status_code == 200, resp.text
        proposals = (await responder.get(f"/v1/brands/{brand}/proposals")).json()
    assert [(p["rule"], p["dismissals"]) for p in proposals] == [("sustained_rise", 2)]
