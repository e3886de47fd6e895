"""The `crisiswatch` command line: infrastructure, services, replay, evaluation, benchmarks."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from services.cli_admin import add_admin_commands
from shared.errors import BadInput, CrisiswatchError
from shared.logging import configure_logging

if TYPE_CHECKING:
    from shared.settings.tree import Settings

# Every command receives its arguments and the settings tree, built once by `main()`.
Handler = Callable[[argparse.Namespace, "Settings"], int]


def _infra(args: argparse.Namespace, settings: Settings) -> int:
    from shared.infra import manage

    infra = settings.infra
    if args.action == "up":
        from shared.db.migrate import upgrade
        from shared.progress import steps

        with steps() as step:
            for line in manage.up(infra, step=step):
                print(line)
            step("migrating the database")
            upgrade(infra)
        print(f"database migrated; Kafka at {infra.bootstrap_servers}")
        return 0
    if args.action == "down":
        for line in manage.down(infra, include_postgres=not args.keep_postgres):
            print(line)
        return 0
    status = manage.status(infra)
    print(json.dumps(status, indent=2))
    return 0 if all(part["ready"] for part in status.values()) else 1


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from shared.db.migrate import downgrade, upgrade

    common = settings.common
    if args.action == "upgrade":
        revision = args.revision or "head"
        upgrade(common, revision=revision)
    else:
        revision = args.revision
        downgrade(common, revision=revision)
    print(f"database {common.pg_database}: {args.action} to {revision} done")
    return 0


def _service(args: argparse.Namespace, settings: Settings) -> int:
    from services.runner import run_service

    run_service(args.command, settings)
    return 0


def _run(_: argparse.Namespace, __: Settings) -> int:
    from services.runner import run_all

    # Each child process builds the tree again from the same environment.
    return run_all()


def _config(args: argparse.Namespace, _: Settings) -> int:
    from shared.settings.reference import render_env_example

    sys.stdout.write(render_env_example())
    return 0


def _bench(args: argparse.Namespace, _: Settings) -> int:
    import asyncio
    from pathlib import Path

    from tools.bench.runner import run_bench

    report = asyncio.run(
        run_bench(
            quick=args.quick,
            json_path=Path(args.json) if args.json else None,
            only=args.only or None,
            scale_mentions=args.scale_mentions,
        )
    )
    return 1 if report["errors"] else 0


# Commands whose options belong to the module that implements them: "module:function"
# receives the remaining arguments (one mapping instead of a registry of imports).
DELEGATED: dict[str, tuple[str, str]] = {
    "demo": ("tools.demo.__main__:main", "the one-command demo with a live view"),
}


def _delegate(args: argparse.Namespace, __: Settings) -> int:
    import importlib

    target, _ = DELEGATED[args.command]
    module_name, _, function = target.partition(":")
    entry = getattr(importlib.import_module(module_name), function)
    code: int = entry(list(args.rest))
    return code


def _eval(args: argparse.Namespace, _: Settings) -> int:
    from pathlib import Path

    if args.task == "detection":
        return _eval_detection(args)
    if args.task == "topics":
        from tools.eval import topic_context

        topic_context.print_summary(topic_context.run_topics_eval([Path(f) for f in args.file]))
        return 0
    if len(args.file) != 1:
        raise BadInput(f"eval {args.task} takes exactly one file")
    if args.task == "stories":
        from tools.eval.stories import print_summary, run_stories_eval

        print_summary(run_stories_eval(Path(args.file[0])))
        return 0
    from tools.eval.sentiment_cli import run_eval

    result = run_eval(args.task, Path(args.file[0]), args.scorer, args.model)
    print(json.dumps(result))
    return 0


def _eval_detection(args: argparse.Namespace) -> int:
    from tools.eval.detection import run_detection_eval

    if args.scenarios:
        from tools.eval.benchmark import load_dev, load_files, scenario_table

        dev = load_files(args.file, args.labels) if args.file else load_dev()
        rows = scenario_table(dev, young_model=args.young_model, preset_name=args.preset)
        if args.forecast:
            from tools.eval.forecast import forecast_folds

            forecast_folds(dev)
        return 0 if rows else 1
    if not args.file:
        raise BadInput("eval detection takes one or more series, or --scenarios")
    summaries = [
        run_detection_eval(f, args.preset, labels_path=args.labels, forecast=args.forecast)
        for f in args.file
    ]
    return 0 if all(summaries) else 1


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from pathlib import Path

    from services.ingest.sources.replay import run_replay

    stats = asyncio.run(
        run_replay(
            settings.ingest,
            Path(args.file),
            speed=args.speed,
            rebase=args.rebase,
            progress=not args.no_progress,
            workers=args.workers,
        )
    )
    print(
        json.dumps(
            {
                "read": stats.read,
                "produced": stats.produced,
                "rejected": stats.rejected,
                "unmatched": stats.unmatched,
                "duplicates": stats.duplicates,
                "seconds": round(stats.seconds, 3),
                "mentions_per_s": round(stats.rate, 1),
            }
        )
    )
    return 0


def _model(args: argparse.Namespace, _: Settings) -> int:
    from pathlib import Path

    from shared.progress import steps

    results: dict[str, object] = {}
    with steps() as step:
        if args.kind in ("transformer", "all"):
            from tools.train.heads import run_model_build

            step("model build: sentiment and emotion heads on the MiniLM encoder")
            results["transformer"] = run_model_build(Path(args.output) if args.output else None)
        if args.kind in ("heads", "all"):
            from tools.data import default_data_dir
            from tools.train.multilingual import build_heads

            step("model build: the model tier's heads on the multilingual encoder")
            out_dir = Path(args.output) if args.output else None
            results["heads"] = build_heads(default_data_dir(), out_dir=out_dir)
        if args.kind in ("context", "all"):
            from tools.train.context_head import build_context_head

            step("model build: the context head (crisis words reported or used harmlessly)")
            results["context"] = build_context_head(Path(args.output) if args.output else None)
        if args.kind in ("chinese", "all"):
            from services.sentiment.scorers.chinese import DEFAULT_MODEL
            from tools.data import default_data_dir
            from tools.train.chinese import build_chinese_model

            step("model build: the Chinese model (jieba + logistic regression)")
            out = Path(args.output) / "zh_sentiment.npz" if args.output else DEFAULT_MODEL
            results["chinese"] = build_chinese_model(default_data_dir() / "chinese_reviews", out)
    print(json.dumps(results, default=str))
    return 0


def _backtest(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from datetime import datetime

    from shared.progress import steps
    from tools.eval.backtest import run_backtest

    with steps() as step:
        asyncio.run(
            run_backtest(
                settings.alerting,
                brand=args.brand,
                start=datetime.fromisoformat(args.start),
                end=datetime.fromisoformat(args.end),
                preset=args.preset,
                progress=step,
            )
        )
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crisiswatch")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


def _command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand parser with the description and examples of `services.cli_text`."""
    from services.cli_text import COMMANDS, epilog

    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        description=COMMANDS[name].description,
        epilog=epilog(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="crisiswatch",
        description="Social listening and crisis detection.",
        epilog="`crisiswatch COMMAND --help` describes a command, with examples.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an error (before COMMAND)"
    )
    parser.add_argument("--version", action="version", version=f"crisiswatch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    infra = _command(sub, "infra", help="local Kafka and PostgreSQL")
    infra.add_argument("action", choices=["up", "down", "status"])
    infra.add_argument("--keep-postgres", action="store_true", help="down: leave PostgreSQL up")
    infra.set_defaults(handler=_infra)

    db = _command(sub, "db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument(
        "revision",
        nargs="?",
        help="target: a revision id, `head`, `base` or relative (`-1`); upgrade defaults to "
        "head, downgrade requires one",
    )
    db.set_defaults(handler=_db)

    config = _command(sub, "config", help="configuration reference")
    config.add_argument("action", choices=["env-example"])
    config.set_defaults(handler=_config)

    bench = _command(sub, "bench", help="throughput, latency and memory against ceilings")
    bench.add_argument("--quick", action="store_true", help="small inputs, under 2 minutes")
    bench.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    bench.add_argument("--only", action="append", metavar="STAGE", help="run matching stages")
    bench.add_argument(
        "--scale-mentions",
        type=int,
        default=10_000_000,
        metavar="N",
        help="mentions generated by the opt-in stage api-scale (--only api-scale)",
    )
    bench.set_defaults(handler=_bench)

    evaluate = _command(sub, "eval", help="evaluate scorers or the detector on labelled files")
    evaluate.add_argument(
        "task", choices=["sentiment", "emotion", "detection", "stories", "topics"]
    )
    evaluate.add_argument(
        "file",
        nargs="*",
        help="CSV/JSONL text,label (timestamp,value series for detection; "
        "text,created_at,story for stories)",
    )
    evaluate.add_argument(
        "--scorer",
        default="pipeline",
        choices=["pipeline", "rules", "routed", "default", "vader", "transformer"],
        help="pipeline (default): what the service runs with its settings; rules: without the "
        "model tier; routed: with the transformer re-scoring; default/transformer: a "
        "classification model alone; vader: VADER alone",
    )
    evaluate.add_argument("--model", help="model id or directory for --scorer transformer")
    evaluate.add_argument(
        "--preset",
        default="balanced",
        choices=["sensitive", "balanced", "strict"],
        help="detection sensitivity preset (for one series and for --scenarios)",
    )
    evaluate.add_argument("--labels", help="detection: anomaly windows JSON to score against")
    evaluate.add_argument(
        "--scenarios",
        action="store_true",
        help="detection: scenario benchmark (young, low-volume, slow-burn, level-shift cases "
        "made from the given series, else the dev series) with a summary per family",
    )
    evaluate.add_argument(
        "--young-model",
        action="store_true",
        help="detection --scenarios: with the gamma-Poisson level model of young series on",
    )
    evaluate.add_argument(
        "--forecast",
        action="store_true",
        help="detection: each alert's projection, and interval coverage and error against "
        "the naive forecast (with --scenarios: leave-one-series-out, fold by fold)",
    )
    evaluate.set_defaults(handler=_eval)

    replay = _command(sub, "replay", help="stream a JSONL or CSV file of mentions into Kafka")
    replay.add_argument("file")
    replay.add_argument("--speed", type=float, help="N x real time (default: as fast as possible)")
    replay.add_argument(
        "--rebase", action="store_true", help="move timestamps so the file starts now"
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.add_argument("--workers", type=int, help="decoder processes (default 1)")
    replay.set_defaults(handler=_replay)

    model = _command(sub, "model", help="rebuild the shipped models from the datasets")
    model.add_argument("action", choices=["build"])
    model.add_argument(
        "--kind",
        choices=["heads", "context", "transformer", "chinese", "all"],
        default="all",
        help="heads: the model tier's sentiment + emotion heads on the multilingual encoder; "
        "context: its context head (after heads); transformer: the optional MiniLM "
        "classifiers; chinese: jieba LR",
    )
    model.add_argument("--output", help="directory for the trained weights (default: in place)")
    model.set_defaults(handler=_model)

    backtest = _command(sub, "backtest", help="alerts a rule set would have raised on history")
    backtest.add_argument("--brand", required=True)
    backtest.add_argument("--start", required=True, help="ISO time, e.g. 2026-11-01T00:00:00Z")
    backtest.add_argument("--end", required=True, help="ISO time")
    backtest.add_argument("--preset", choices=["sensitive", "balanced", "strict"])
    backtest.set_defaults(handler=_backtest)

    add_admin_commands(sub, _command)

    for name, (_, text) in DELEGATED.items():
        delegated = _command(sub, name, help=text, add_help=False)
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
        delegated.set_defaults(handler=_delegate)

    _command(sub, "run", help="run every service until Ctrl-C").set_defaults(handler=_run)
    for name, text in (
        ("ingest", "the ingest service (push endpoint, connectors)"),
        ("sentiment", "one sentiment worker"),
        ("alerting", "the alerting service"),
        ("api", "the HTTP API"),
    ):
        _command(sub, name, help=text).set_defaults(handler=_service)
    return parser


def _one_line(exc: Exception) -> str:
    """The error as one line: pydantic's report field by field, other messages unwrapped."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        return f"invalid {exc.title}: {'; '.join(problems)}"
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `crisiswatch` console script."""
    argv = sys.argv[1:] if argv is None else argv
    debug = argv[:1] == ["--debug"]
    rest = argv[1:] if debug else argv
    if rest and rest[0] in DELEGATED:
        # The delegated module parses its own options (including --help).
        args = argparse.Namespace(command=rest[0], rest=rest[1:], handler=_delegate)
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command == "db" and args.action == "downgrade" and not args.revision:
            parser.error(
                "db downgrade needs an explicit target (it drops data): a revision id, "
                "`-1` for one step, or `base` for an empty schema"
            )
        debug = args.debug
    handler: Handler = args.handler
    try:
        from shared.settings.tree import load_settings

        settings = load_settings()
        log_level = settings.common.log_level
        debug = debug or log_level.upper() == "DEBUG"
        configure_logging(log_level, settings.common.log_format)
        return handler(args, settings)
    # The edge: our errors, and settings or files that fail validation, are one line on
    # stderr and exit code 2; a traceback only when asked for (--debug or log level DEBUG).
    except (CrisiswatchError, ValidationError) as exc:
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"crisiswatch: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
