"""What a notification says about an incident's story, pure: headline, phrases, samples.

The headline is extractive: the story's most central mention as the sentiment worker kept it
(no generative model). One sample per language, each in its original language: there is no
translator, and the message says so rather than pretend.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.alerting.notify.markup import escape_slack, one_line

ORIGINAL = "original language, not translated"


@dataclass(frozen=True, slots=True)
class LanguageSample:
    """The story's representative mention in one language."""

    language: str
    text: str
    translated: bool = False  # there is no translator: always the original text

    @property
    def status(self) -> str:
        """The translation status as the reader sees it."""
        return "translated" if self.translated else ORIGINAL


@dataclass(frozen=True, slots=True)
class StoryBrief:
    """The incident's story: what its mentions say, in which languages, how many."""

    headline: str = ""
    phrases: tuple[str, ...] = ()
    samples: tuple[LanguageSample, ...] = ()
    volume: int = 0
    negative_share: float | None = None
    topics: tuple[str, ...] = ()
    emotions: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    merged_into: int | None = None
    projected: str = ""  # the projection's line (`detect.forecast.Projection.line`)

    def about(self) -> list[tuple[str, str]]:
        """(label, value) lines: phrases, topics, emotions, languages, volume, projection."""
        rows = [
            ("Top phrases", " · ".join(self.phrases[:5])),
            ("Topics", ", ".join(self.topics[:6])),
            ("Emotions", ", ".join(self.emotions[:4])),
            ("Languages", ", ".join(self.languages)),
        ]
        if self.volume:
            share = (
                f", {self.negative_share:.0%} negative" if self.negative_share is not None else ""
            )
            rows.append(("Story volume", f"{self.volume} mentions{share}"))
        rows.append(("Projected", self.projected))
        return [(k, v) for k, v in rows if v]


def slack_story_blocks(story: StoryBrief | None) -> list[dict[str, Any]]:
    """Block Kit sections of the story: headline, what it is about, one sample per language."""
    if story is None:
        return []
    esc = escape_slack
    blocks: list[dict[str, Any]] = []
    if story.headline:
        text = f"*The story*\n> {esc(one_line(story.headline))}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    about = [f"*{k}*\n{esc(one_line(v, 400))}" for k, v in story.about()]
    if about:
        fields = [{"type": "mrkdwn", "text": f} for f in about[:10]]
        blocks.append({"type": "section", "fields": fields})
    for sample in story.samples[:4]:
        line = f"> {esc(one_line(sample.text))}\n_{esc(sample.language)} · {sample.status}_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
    return blocks


def email_story(story: StoryBrief | None) -> tuple[list[str], list[str]]:
    """The story as plain-text lines and HTML fragments."""
    if story is None:
        return [], []
    esc = html.escape
    text: list[str] = []
    body: list[str] = []
    if story.headline:
        text += ["", f"The story: {one_line(story.headline)}"]
        body.append(f"<h3>The story</h3><blockquote>{esc(one_line(story.headline))}</blockquote>")
    about = story.about()
    if about:
        text += [f"{k}: {v}" for k, v in about]
        body.append(
            "<table>"
            + "".join(f"<tr><th align='left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in about)
            + "</table>"
        )
    if story.samples:
        text += ["", "In each language:"]
        items = []
        for s in story.samples[:4]:
            text.append(f"- [{s.language}, {s.status}] {one_line(s.text)}")
            items.append(
                f"<li><strong>{esc(s.language)}</strong> <em>({esc(s.status)})</em>: "
                f"{esc(one_line(s.text))}</li>"
            )
        body.append("<h3>In each language</h3><ul>" + "".join(items) + "</ul>")
    return text, body


def webhook_story(story: StoryBrief | None) -> dict[str, Any] | None:
    """The story as webhook JSON."""
    if story is None:
        return None
    return {
        "headline": story.headline,
        "phrases": list(story.phrases),
        "samples": [
            {"language": s.language, "text": s.text, "translated": s.translated}
            for s in story.samples
        ],
        "volume": story.volume,
        "negative_share": story.negative_share,
        "topics": list(story.topics),
        "emotions": list(story.emotions),
        "languages": list(story.languages),
        "merged_into": story.merged_into,
        "projected": story.projected,
    }


def pick_headline(
    representatives: Sequence[tuple[str, str, float]], languages: Sequence[str]
) -> str:
    """The most central representative (language, text, similarity to the story's centroid);
    ties go to the language the story speaks most (`languages`, most used first)."""
    order = {lang: i for i, lang in enumerate(languages)}
    if not representatives:
        return ""
    best = min(representatives, key=lambda r: (-r[2], order.get(r[0], len(order)), r[0]))
    return best[1]
