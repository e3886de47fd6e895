"""Sentiment settings that are derived from the machine."""

from __future__ import annotations

import os

import pytest

from services.sentiment.core.stories import StoryParams
from shared.settings.sentiment import SentimentSettings


@pytest.mark.parametrize(
    ("cores", "processes", "threads"), [(2, 2, 1), (8, 2, 4), (2, 0, 2), (1, 4, 1), (6, 4, 1)]
)
def test_torch_threads_share_the_cores_among_enrichment_processes(
    monkeypatch: pytest.MonkeyPatch, cores: int, processes: int, threads: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    settings = SentimentSettings(sentiment_enrich_processes=processes)
    assert settings.torch_threads() == threads


def test_torch_threads_as_set_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    monkeypatch.setenv("CRISISWATCH_SENTIMENT_TORCH_THREADS", "3")
    assert SentimentSettings(sentiment_enrich_processes=2).torch_threads() == 3
    monkeypatch.setenv("CRISISWATCH_SENTIMENT_TORCH_THREADS", "")  # as in .env.example: unset
    assert SentimentSettings(sentiment_enrich_processes=2).torch_threads() == 8
    with pytest.raises(ValueError, match="sentiment_torch_threads"):
        SentimentSettings(sentiment_torch_threads=0)


def test_story_settings_reach_the_clusterer(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.sentiment.service import story_params

    assert story_params(SentimentSettings()).novel_margin == 0.05  # the shipped gate
    monkeypatch.setenv("CRISISWATCH_SENTIMENT_STORY_NOVEL_MARGIN", "0")
    params = story_params(SentimentSettings())
    assert params.novel_margin == 0.0
    assert params.merge_named == SentimentSettings().sentiment_story_merge_named
    with pytest.raises(ValueError, match="sentiment_story_novel_margin"):
        SentimentSettings(sentiment_story_novel_margin=-0.1)
    assert story_params(SentimentSettings()).background_likeness == 0.0  # no background
    monkeypatch.setenv("CRISISWATCH_SENTIMENT_STORY_BACKGROUND_LIKENESS", "0.95")
    assert story_params(SentimentSettings()).background_likeness == 0.95
    assert story_params(SentimentSettings()).place_penalty == StoryParams().place_penalty == 0.2
    monkeypatch.setenv("CRISISWATCH_SENTIMENT_STORY_PLACE_PENALTY", "0")
    assert story_params(SentimentSettings()).place_penalty == 0.0
    assert story_params(SentimentSettings()).recent_bonus == StoryParams().recent_bonus == 0.025
    monkeypatch.setenv("CRISISWATCH_SENTIMENT_STORY_RECENT_BONUS", "0")
    assert story_params(SentimentSettings()).recent_bonus == 0.0
