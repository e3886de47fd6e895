"""Glue for `crisiswatch eval sentiment|emotion FILE [--scorer ...] [--model ...]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from services.sentiment.scorers.base import EmotionScorer, SentimentScorer
from shared.errors import BadInput
from tools.eval.sentiment import Task, evaluate_file

ScorerName = Literal["pipeline", "rules", "routed", "vader", "transformer", "default"]
# `pipeline` is the service as configured; the others change one thing of it or score alone.
PIPELINE_VARIANTS: dict[str, dict[str, object]] = {
    "pipeline": {},
    "rules": {"sentiment_encoder": "none"},  # VADER and the lexicons, no model tier
    "routed": {"sentiment_transformer_enabled": True},  # plus the transformer re-scoring
}


def build_scorer(
    task: Task, scorer_name: ScorerName, model: str | None = None
) -> SentimentScorer | EmotionScorer:
    """Return the scorer `crisiswatch eval` asked for."""
    from services.sentiment.scorers.transformer import (
        InferenceOptions,
        TransformerEmotionScorer,
        TransformerSentimentScorer,
    )

    if scorer_name in PIPELINE_VARIANTS:
        if model:
            raise BadInput("--model applies to --scorer transformer only")
        from services.sentiment.scorers.pipeline import (
            PipelineEmotionScorer,
            PipelineSentimentScorer,
        )
        from shared.settings.sentiment import SentimentSettings

        settings = SentimentSettings(**PIPELINE_VARIANTS[scorer_name])  # type: ignore[arg-type]
        if task == "sentiment":
            return PipelineSentimentScorer(settings)  # type: ignore[return-value]
        return PipelineEmotionScorer(settings)
    if scorer_name == "vader":
        if task != "sentiment":
            raise BadInput("VADER scores sentiment only; use --scorer default or transformer")
        if model:
            raise BadInput("--model applies to --scorer transformer only")
        from services.sentiment.scorers.vader import VaderScorer

        return VaderScorer()
    if scorer_name == "default":
        if model:
            raise BadInput("--model applies to --scorer transformer only")
        from services.sentiment.model.assemble import materialize_default_model

        ref: str | Path = materialize_default_model(task)
        options = InferenceOptions(local_files_only=True)
        name = f"default-{task}"
    elif scorer_name == "transformer":
        if not model:
            raise BadInput("--scorer transformer needs --model MODEL_ID_OR_DIR")
        ref, options, name = model, InferenceOptions(), f"transformer:{model}"
    else:
        raise BadInput(f"unknown scorer {scorer_name!r}")
    if task == "sentiment":
        return TransformerSentimentScorer(ref, options=options, name=name)
    return TransformerEmotionScorer(ref, options=options, name=name)


def run_eval(
    task: Task, path: Path, scorer_name: ScorerName = "pipeline", model: str | None = None
) -> dict[str, Any]:
    """Evaluate a scorer on a labelled CSV/JSONL file and return the summary."""
    if not path.is_file():
        raise BadInput(f"no such file: {path}")
    return evaluate_file(path, task, build_scorer(task, scorer_name, model))
