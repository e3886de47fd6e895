"""Severity: topic risk comes from the topic contract, and ranks the topics as intended."""

from __future__ import annotations

from services.alerting.incidents.severity import DEFAULT_TOPIC_RISK, assess_severity, topic_risk
from shared.contracts.topics import topic_contract


def _points(topic: str) -> float:
    """Points of one middling signal (3x volume, half negative) about `topic`."""
    return assess_severity(magnitude=3.0, negative_share=0.5, topics=[topic]).points


def test_topic_risk_is_the_contract_weight_by_topic_id() -> None:
    contract = topic_contract()
    for topic_id, spec in contract.topics.items():
        assert topic_risk(topic_id) == spec.risk_weight
    assert topic_risk("weather") == DEFAULT_TOPIC_RISK


def test_fraud_and_boycott_weigh_more_than_service_complaints() -> None:
    for serious in ("pricing_fraud", "offensive_boycott"):
        for complaint in ("delivery", "customer_service"):
            assert _points(serious) > _points(complaint), (serious, complaint)


def test_harm_and_legal_exposure_weigh_most() -> None:
    top = {"safety", "recall", "legal"}
    ranked = sorted(topic_contract().topic_ids, key=_points, reverse=True)
    assert set(ranked[:3]) == top
    assert _points("data_privacy") > _points("pricing_fraud") > _points("product_quality")
    assert _points("product_quality") > _points("delivery")


def test_the_same_signal_grades_higher_for_a_riskier_topic() -> None:
    delivery = assess_severity(magnitude=10.0, negative_share=0.7, velocity_ratio=2.0,
                               topics=["delivery"])  # fmt: skip
    safety = assess_severity(magnitude=10.0, negative_share=0.7, velocity_ratio=2.0,
                             topics=["safety"])  # fmt: skip
    assert (delivery.level, safety.level) == ("SEV2", "SEV1")
    assert "topic safety (risk weight 3)" in safety.reasons


def test_several_topics_take_the_riskiest() -> None:
    both = assess_severity(magnitude=3.0, topics=["delivery", "offensive_boycott"])
    assert both.points == assess_severity(magnitude=3.0, topics=["offensive_boycott"]).points
    assert assess_severity(magnitude=3.0).points < both.points
