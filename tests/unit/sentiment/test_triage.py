from datetime import UTC, datetime

import pytest

from services.sentiment.core.triage import TriagePolicy, needs_transformer, triage_reason
from shared.schemas import Mention, SentimentScore


def mention(reach: int | None = None, brands: tuple[str, ...] = ("acme",)) -> Mention:
    return Mention(
        platform="x",
        external_id="1",
        author_id="a",
        author_reach=reach,
        text="hello",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        brands=list(brands),
    )


def score(label: str = "positive", confidence: float = 0.9) -> SentimentScore:
    return SentimentScore(label=label, score=0.5, confidence=confidence, scorer="vader")  # type: ignore[arg-type]


POLICY = TriagePolicy(confidence_below=0.5, negative=True, reach_at_least=1000)


def test_confident_positive_low_reach_stays_on_vader() -> None:
    assert triage_reason(mention(reach=10), score(), policy=POLICY) is None
    assert not needs_transformer(mention(reach=10), score(), policy=POLICY)


def test_each_condition_triages() -> None:
    assert triage_reason(mention(), score(confidence=0.3), policy=POLICY) == "uncertain"
    assert triage_reason(mention(), score("negative"), policy=POLICY) == "negative"
    assert triage_reason(mention(reach=1000), score(), policy=POLICY) == "reach"
    assert (
        triage_reason(
            mention(brands=("zeta", "acme")), score(), policy=POLICY, alert_brands={"acme"}
        )
        == "alert_window"
    )
    assert needs_transformer(mention(reach=5000), score(), policy=POLICY)


def test_rules_can_be_disabled() -> None:
    off = TriagePolicy(
        confidence_below=None, negative=False, reach_at_least=None, alert_windows=False
    )
    assert (
        triage_reason(
            mention(reach=10**9), score("negative", 0.0), policy=off, alert_brands={"acme"}
        )
        is None
    )


def test_unknown_reach_and_other_brands_are_not_triaged() -> None:
    assert (
        triage_reason(mention(reach=None), score(), policy=POLICY, alert_brands={"other"}) is None
    )


def test_unscored_language_uses_reach_and_alert_rules_only() -> None:
    assert triage_reason(mention(), None, policy=POLICY) is None
    assert triage_reason(mention(reach=2000), None, policy=POLICY) == "reach"
    assert triage_reason(mention(), None, policy=POLICY, alert_brands={"acme"}) == "alert_window"


@pytest.mark.parametrize("kwargs", [{"confidence_below": 1.5}, {"reach_at_least": -1}])
def test_policy_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TriagePolicy(**kwargs)
