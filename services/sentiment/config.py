"""Settings of the sentiment service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import CommonSettings


class SentimentSettings(CommonSettings):
    """Consumer group, batching, scorers and routing of the sentiment workers."""

    sentiment_group_id: str = "crisiswatch-sentiment"
    sentiment_batch_size: int = Field(default=500, ge=1, le=10_000)
    sentiment_metrics_host: str = "127.0.0.1"
    sentiment_metrics_port: int = Field(default=9102, ge=0, le=65535, description="0 disables")
    sentiment_fast_scorer: Literal["vader"] = "vader"
    sentiment_transformer_model: str = Field(
        default="default",
        description="`default` (the shipped model), a Hugging Face model id or a local directory",
    )
    sentiment_transformer_enabled: bool = Field(
        default=False, description="route uncertain, negative or high-reach mentions to it"
    )
    sentiment_torch_threads: int = Field(default=2, ge=1, le=64)
    sentiment_quantize: bool = False
    sentiment_retry_max_s: float = Field(default=30.0, gt=0)
