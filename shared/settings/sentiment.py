"""Settings of the sentiment service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from shared.settings.common import CommonSettings


class SentimentSettings(CommonSettings):
    """Consumer group, batching, scorers and routing of the sentiment workers."""

    sentiment_group_id: str = Field(
        default="crisiswatch-sentiment", description="consumer group of the sentiment workers"
    )
    sentiment_batch_size: int = Field(
        default=1000, ge=1, le=10_000, description="records per processed batch"
    )
    sentiment_session_timeout_s: float = Field(
        default=10.0,
        ge=6,
        le=300,
        description="Kafka group session timeout: how long a silent worker keeps its "
        "partitions before the group moves them",
    )
    sentiment_enrich_processes: int = Field(
        default=2,
        ge=0,
        le=64,
        description="child processes that decode and score, about one per core of the worker "
        "(0 = a thread of the worker)",
    )
    sentiment_metrics_host: str = Field(default="127.0.0.1", description="metrics listen address")
    sentiment_metrics_port: int = Field(default=9102, ge=0, le=65535, description="0 disables")
    sentiment_fast_scorer: Literal["vader"] = Field(
        default="vader",
        description="rule-based scorer of English mentions when the model tier is off",
    )
    sentiment_encoder: str = Field(
        default="use",
        description="sentence encoder of the model tier: `use` (the shipped multilingual "
        "Universal Sentence Encoder), a Hugging Face model id or directory (heads trained for "
        "it in sentiment_heads_dir), or `none` (rule-based scorers only)",
    )
    sentiment_heads_dir: Path | None = Field(
        default=None,
        description="folder of trained heads per encoder (unset: the heads that ship)",
    )
    sentiment_context_head: bool = Field(
        default=True,
        description="a crisis topic also needs the context head (where the encoder has one) "
        "to read the post as a report, not a harmless use of the word ('the stand was on "
        "fire, queue around the block'); off: the tone gate alone decides",
    )
    sentiment_encoder_threads: int = Field(
        default=1, ge=1, le=64, description="BLAS threads of the encoder per enrichment process"
    )
    sentiment_encoder_cache: int = Field(
        default=20_000, ge=0, description="recent texts whose vectors are remembered (copies)"
    )
    sentiment_transformer_model: str = Field(
        default="default",
        description="`default` (the shipped model), a Hugging Face model id or a local directory",
    )
    sentiment_transformer_enabled: bool = Field(
        default=False, description="route uncertain, negative or high-reach mentions to it"
    )
    sentiment_emotion_model: str = Field(
        default="default", description="emotion model: `default`, a model id or a directory"
    )
    sentiment_max_length: int = Field(
        default=128, ge=8, le=512, description="transformer input length in tokens"
    )
    sentiment_transformer_batch: int = Field(
        default=64, ge=1, le=1024, description="texts per transformer forward pass"
    )
    sentiment_route_confidence_below: float | None = Field(
        default=0.5, ge=0, le=1, description="route fast scores less confident than this"
    )
    sentiment_route_negative: bool = Field(
        default=True, description="route mentions the fast path judged negative"
    )
    sentiment_alert_window_refresh_s: float = Field(
        default=15.0,
        gt=0,
        description="how often the brands with an open incident (whose mentions the "
        "transformer re-scores) are re-read",
    )
    sentiment_route_reach_at_least: int | None = Field(
        default=10_000, ge=0, description="route mentions from authors with this many followers"
    )
    sentiment_torch_threads: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="torch intra-op threads per enrichment process (unset: the worker's cores "
        "shared among its enrichment processes)",
    )
    sentiment_quantize: bool = Field(
        default=False, description="int8 dynamic quantisation of the transformer on CPU"
    )
    sentiment_retry_max_s: float = Field(
        default=30.0, gt=0, description="longest back-off while PostgreSQL or Kafka is down"
    )
    sentiment_stories: bool = Field(
        default=True,
        description="cluster each brand's mentions into stories (needs the model tier's encoder)",
    )
    sentiment_story_threshold: float = Field(
        default=0.15, gt=0, le=1, description="similarity at which a mention joins a story"
    )
    sentiment_story_half_life_s: float = Field(
        default=345_600.0, gt=0, description="half-life of a story's past mentions' weight"
    )
    sentiment_story_budget: int = Field(
        default=64, ge=1, le=4096, description="open stories kept per brand (stalest evicted)"
    )
    sentiment_story_background: float = Field(
        default=0.5, ge=0, le=1, description="share of a brand's mean vector taken out of each "
        "mention's before clustering (what every mention of the brand shares)",
    )  # fmt: skip
    sentiment_story_merge_threshold: float = Field(
        default=0.8, gt=0, le=1.01, description="centroid similarity at which two stories merge "
        "(above 1: never)",
    )  # fmt: skip
    sentiment_story_entity_bonus: float = Field(
        default=0.2, ge=0, le=1, description="added to a story's similarity when the mention "
        "names an entity specific to it (x its specificity)",
    )  # fmt: skip
    sentiment_story_entity_penalty: float = Field(
        default=0.0, ge=0, le=1, description="taken from a story known by other entities when "
        "the mention's entities point at another story (0: entities never push apart)",
    )  # fmt: skip
    sentiment_story_place_penalty: float = Field(
        default=0.2, ge=0, le=1, description="taken from a story whose mentions name countries "
        "when the mention names only others (a flood in Alberta is not Queensland's; 0: off)",
    )  # fmt: skip
    sentiment_story_recent_bonus: float = Field(
        default=0.025, ge=0, le=1, description="added to a story's similarity x its share of "
        "the brand's last 64 mentions: the story talked about now wins a close call (0: off)",
    )  # fmt: skip
    sentiment_story_split_every: int = Field(
        default=8, ge=0, le=1024, description="a story is checked for a second story (split) "
        "and for stories sharing its names (named merge) every this many mentions (0: never)",
    )  # fmt: skip
    sentiment_story_merge_named: float = Field(
        default=0.4, gt=0, le=1.01, description="centroid similarity at which two stories "
        "whose identities share a name merge (above 1: never)",
    )  # fmt: skip
    sentiment_story_novel_margin: float = Field(
        default=0.05, ge=0, le=1, description="a mention naming only places or organisations "
        "its best story never counted joins it only this far above the threshold, else it "
        "opens a story (0: off)",
    )  # fmt: skip
    sentiment_story_background_likeness: float = Field(
        default=0.0, ge=0, le=1, description="a brand's background story (its ordinary talk, "
        "never an incident's): the lasting story whose centroid is this close to the brand's "
        "mean and that names nothing of its own (0: none)",
    )  # fmt: skip
    sentiment_story_save_s: float = Field(
        default=120.0, ge=0, description="save the clustering state of brands with new "
        "mentions this often (and on stopping), so their stories survive a restart or a "
        "partition move; up to 1.5 MB a busy brand (0: never)",
    )  # fmt: skip
    sentiment_story_save_size: int = Field(
        default=5, ge=0, description="a brand is saved within a batch of one of its stories "
        "reaching this many mentions (or absorbing another), not at the next round: a story "
        "big enough to page keeps its id through a crash (0: only the rounds)",
    )  # fmt: skip
    sentiment_story_recheck_s: float = Field(
        default=60.0, gt=0, description="a brand quiet in this worker for this long has its "
        "saved state checked (another worker may have had its partition) before its next mention",
    )  # fmt: skip

    def torch_threads(self) -> int:
        """Torch threads for each enriching process: as set, else the cores shared out.

        More threads than cores make OpenMP threads wait on each other (see the model card).
        """
        if self.sentiment_torch_threads is not None:
            return self.sentiment_torch_threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, (cores or 1) // max(1, self.sentiment_enrich_processes))
