"""Notifications explain the story (headline, phrases, a sample per language) and thread."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from services.alerting.notify.content import (
    IncidentSummary,
    email_message,
    incident_links,
    slack_message,
    webhook_payload,
)
from services.alerting.notify.story_content import (
    ORIGINAL,
    LanguageSample,
    StoryBrief,
    pick_headline,
)
from services.alerting.notify.threads import message_id, note_thread, reply_subject, threaded
from shared.db.models import IncidentRow

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
STORY = StoryBrief(
    headline="My Voltix X5 battery caught fire on my nightstand!",
    phrases=("battery fire", "x5 phone", "recall"),
    samples=(
        LanguageSample("en", "My Voltix X5 battery caught fire on my nightstand!"),
        LanguageSample("es", "¡La batería de mi X5 de Voltix se incendió! <b>"),
        LanguageSample("zh", "我的Voltix X5充电时电池起火了"),
    ),
    volume=244,
    negative_share=0.82,
    topics=("safety", "recall"),
    emotions=("fear", "anger"),
    languages=("en", "es", "zh"),
)
SUMMARY = IncidentSummary(
    id=9,
    brand="voltix",
    category="safety",
    severity="SEV1",
    title="voltix: safety crisis",
    status="open",
    opened_at=NOW,
    value=120,
    baseline=8,
    story=STORY,
)
LINKS = incident_links("https://api.example/", 9)


def test_headline_is_the_most_central_representative() -> None:
    reps = [("en", "english", 0.61), ("es", "spanish", 0.74), ("zh", "chinese", 0.74)]
    assert pick_headline(reps, ["zh", "es"]) == "chinese"  # tie: the story's main language
    assert pick_headline(reps, ["es", "zh"]) == "spanish"
    assert pick_headline([], ["en"]) == ""


def test_slack_message_carries_headline_phrases_and_one_sample_per_language() -> None:
    msg = slack_message(SUMMARY, LINKS, update_kind="opened")
    dumped = json.dumps(msg, ensure_ascii=False)
    assert "My Voltix X5 battery caught fire" in dumped
    assert "battery fire · x5 phone · recall" in dumped
    assert "safety, recall" in dumped and "fear, anger" in dumped
    assert "244 mentions, 82% negative" in dumped
    assert "x15.0" in dumped  # volume vs baseline
    for language in ("en", "es", "zh"):
        assert f"_{language} · {ORIGINAL}_" in dumped
    assert "<b>" not in dumped  # escaped like every user text


def test_email_and_webhook_explain_the_story() -> None:
    mail = email_message(SUMMARY, LINKS, update_kind="opened")
    assert "The story: My Voltix X5 battery caught fire" in mail["text"]
    assert f"[zh, {ORIGINAL}] 我的Voltix X5充电时电池起火了" in mail["text"]
    assert "&lt;b&gt;" in mail["html"] and "<b>" not in mail["html"]
    story = webhook_payload(SUMMARY, LINKS, update_kind="opened")["incident"]["story"]
    assert story["headline"].startswith("My Voltix")
    assert [s["translated"] for s in story["samples"]] == [False, False, False]


def test_every_channel_shows_the_projected_trend() -> None:
    line = "~420 mentions next 6 h (80%: 300-610), rising 35%/h, peak in ~3 h"
    assert SUMMARY.story is not None
    projected = replace(SUMMARY, story=replace(SUMMARY.story, projected=line))
    slack = json.dumps(slack_message(projected, LINKS, update_kind="opened"), ensure_ascii=False)
    assert f"*Projected*\\n{line}" in slack
    mail = email_message(projected, LINKS, update_kind="opened")
    assert f"Projected: {line}" in mail["text"] and line in mail["html"]
    hook = webhook_payload(projected, LINKS, update_kind="opened")["incident"]["story"]
    assert hook["projected"] == line
    assert "Projected" not in email_message(SUMMARY, LINKS, update_kind="opened")["text"]


def test_an_incident_without_story_has_no_story_section() -> None:
    plain = replace(SUMMARY, story=None)
    assert "The story" not in email_message(plain, LINKS, update_kind="opened")["text"]
    assert webhook_payload(plain, LINKS, update_kind="opened")["incident"]["story"] is None


def test_first_email_opens_the_thread_and_updates_reply_to_it() -> None:
    incident = IncidentRow(id=9, details={})
    first = {"subject": "[SEV2] OPENED: voltix - battery fire", "text": "", "html": ""}
    assert threaded(incident, "email", first) == first
    note_thread(incident, "email", first, dedupe_key="incident:9:opened:SEV2:email")
    root = message_id("incident:9:opened:SEV2:email")
    update = {"subject": "[SEV1] SEVERITY_CHANGED: voltix - battery fire", "text": "", "html": ""}
    reply = threaded(incident, "email", update)
    assert reply["in_reply_to"] == reply["references"] == root
    assert reply["subject"] == "Re: [SEV2] OPENED: voltix - battery fire"
    note_thread(incident, "email", reply, dedupe_key="incident:9:severity_changed:SEV1:email")
    assert incident.details["threads"]["email"]["message_id"] == root  # the first stays
    assert reply_subject("Re: x") == "Re: x"


def test_first_slack_message_opens_the_thread_whatever_its_kind() -> None:
    incident = IncidentRow(id=9, details={})
    payload = {"text": "t", "blocks": [], "thread": {"incident": 9, "opening": False}}
    first = threaded(incident, "slack", payload)
    assert first["thread"] == {"incident": 9, "opening": True}
    note_thread(incident, "slack", first, dedupe_key="k1")
    assert threaded(incident, "slack", payload)["thread"] == {"incident": 9, "opening": False}
    assert threaded(incident, "webhook", {"event": "x"}) == {"event": "x"}
