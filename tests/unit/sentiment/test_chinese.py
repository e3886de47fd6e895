"""Chinese sentiment scorer: shipped weights, labels, neutral band, emoji."""

from pathlib import Path

import pytest

from services.sentiment.scorers.base import SentimentScorer
from services.sentiment.scorers.chinese import (
    DEFAULT_MODEL,
    ChineseSentimentScorer,
    hashed_features,
)


@pytest.fixture(scope="module")
def scorer() -> ChineseSentimentScorer:
    return ChineseSentimentScorer()


def test_weights_ship_small() -> None:
    assert DEFAULT_MODEL.is_file()
    assert DEFAULT_MODEL.stat().st_size < 2 * 1024 * 1024


def test_implements_protocol(scorer: ChineseSentimentScorer) -> None:
    assert isinstance(scorer.name, str)
    checked: SentimentScorer = scorer
    assert checked.supports("zh") and checked.supports("zh-TW")
    assert not checked.supports("ja") and not checked.supports("en")


@pytest.mark.parametrize(
    "text", ["质量太差了，用一次就坏了，要求退款", "骗子商家，收了钱不发货", "客服态度极差，没人理"]
)
def test_negative_reviews(scorer: ChineseSentimentScorer, text: str) -> None:
    result = scorer.score([text])[0]
    assert result.label == "negative"
    assert result.score < -scorer.neutral_band


@pytest.mark.parametrize("text", ["东西很好，物流也快，好评", "非常满意，性价比高，推荐购买"])
def test_positive_reviews(scorer: ChineseSentimentScorer, text: str) -> None:
    result = scorer.score([text])[0]
    assert result.label == "positive"
    assert result.score > scorer.neutral_band


def test_scores_in_range_and_batch_order(scorer: ChineseSentimentScorer) -> None:
    texts = ["很好", "很差", "", "   ", "今天", "😡" * 50]
    results = scorer.score(texts)
    assert len(results) == len(texts)
    for result in results:
        assert -1.0 <= result.score <= 1.0
        assert 0.0 <= result.confidence <= 1.0
        assert result.scorer == scorer.name
    assert results[2].label == "neutral" and results[2].confidence == 0.0


def test_unsure_scores_are_neutral(scorer: ChineseSentimentScorer) -> None:
    assert 0.0 < scorer.neutral_band < 1.0
    for result in scorer.score(["这个", "的", "嗯"]):
        if abs(result.score) < scorer.neutral_band:
            assert result.label == "neutral"


def test_emoji_moves_score(scorer: ChineseSentimentScorer) -> None:
    plain = scorer.logit("收到了")
    assert scorer.logit("收到了😡😡") < plain < scorer.logit("收到了😍😍")


def test_hashing_is_deterministic() -> None:
    assert hashed_features(["不", "好吃"]) == hashed_features(["不", "好吃"])
    assert hashed_features([]) == []
    assert len(hashed_features(["a", "b"])) == 3


def test_bad_weights_file_is_refused(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "bad.npz"
    np.savez(path, weights=np.zeros(8), bias=0.0, neutral_band=0.2, hash_bits=18)
    with pytest.raises(ValueError, match="hash_bits"):
        ChineseSentimentScorer(path)


def test_segment_cut_equals_jieba_lcut_with_and_without_remembered_blocks() -> None:
    from services.sentiment.core import segment

    texts = [
        "充电宝起火了，要求召回！客服不理人，充电宝质量太差",
        "很快，好吃，味道足，量大 #好吃# @user1 https://t.co/x iPhone15 Pro 2.5kg",
        "",
        "   ",
        "abc def，中文English混合 100% 好评！！",
    ]
    tokenizer = segment.jieba_tokenizer()
    for limit in (1, segment.BLOCK_MEMO_LIMIT):
        segment._cut_cached.cache_clear()
        saved, segment.BLOCK_MEMO_LIMIT = segment.BLOCK_MEMO_LIMIT, limit
        try:
            for text in texts * 2:
                assert list(segment.cut(text)) == tokenizer.lcut(text)
        finally:
            segment.BLOCK_MEMO_LIMIT = saved
    segment._cut_cached.cache_clear()
