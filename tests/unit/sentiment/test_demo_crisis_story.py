"""The demo's crisis is one story whatever minute the demo ends at.

The scenario's volume follows the hour of the day it ends in, so each minute gives a
slightly different stream. Before the recent-share bonus (`StoryParams.recent_bonus`),
49 of the 1,440 minutes of a day split the crisis between its own story and the brand's
chatter, and `make demo` then opened two incidents. The shipped encoder and clusterer see
the voltix stream here as the sentiment worker does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from services.sentiment.core.stories import StoryClusterer, StoryParams
from tools.demo.scenario import CRISIS_BRAND, generate
from tools.eval.stories import Labelled, encode, story_inputs

DAY = datetime(2026, 12, 5, tzinfo=UTC)
# Every 21st minute of a day; 07:21 and 07:42 split the crisis without the bonus.
ENDS = [DAY + timedelta(minutes=m) for m in range(0, 24 * 60, 21)]


def _stream(end: datetime) -> list[Labelled]:
    """The crisis brand's mentions in time order, labelled by the scenario's phase."""
    rows = [
        Labelled(
            m.payload["text"], datetime.fromisoformat(m.payload["created_at"]).timestamp(), m.phase
        )
        for m in generate(end=end)
        if CRISIS_BRAND in m.payload["brands"]
    ]
    return sorted(rows, key=lambda r: r.at)


@pytest.fixture(scope="module")
def vectors() -> dict[str, np.ndarray]:
    texts = sorted({r.text for end in ENDS for r in _stream(end)})
    return dict(zip(texts, encode(texts), strict=True))


def _crisis_stories(end: datetime, vectors: dict[str, np.ndarray], bonus: float) -> set[str]:
    rows = _stream(end)
    inputs = story_inputs(rows, np.vstack([vectors[r.text] for r in rows]))
    clusterer = StoryClusterer(StoryParams(recent_bonus=bonus))
    found = [clusterer.assign(i).story_id for i in inputs]
    return {story for story, row in zip(found, rows, strict=True) if row.story == "crisis"}


def test_the_demo_crisis_is_one_story_at_every_end_minute(vectors: dict[str, np.ndarray]) -> None:
    split = [
        end for end in ENDS if len(_crisis_stories(end, vectors, StoryParams().recent_bonus)) > 1
    ]
    assert split == []
    # Without the bonus some minutes split it: what the test guards against.
    assert any(len(_crisis_stories(end, vectors, 0.0)) > 1 for end in ENDS[20:24])
