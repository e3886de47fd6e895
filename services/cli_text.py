"""What `crisiswatch COMMAND --help` says: a description and examples for every subcommand.

One mapping, read by `services.cli.build_parser`; `tests/unit/test_cli.py` checks that
every subcommand has an entry.
"""

from __future__ import annotations

from typing import NamedTuple


class CommandText(NamedTuple):
    """The description and example lines of one subcommand."""

    description: str
    examples: tuple[str, ...]


COMMANDS: dict[str, CommandText] = {
    "infra": CommandText(
        "Start, stop or inspect the local Kafka broker and PostgreSQL cluster. `up` is "
        "idempotent, migrates the database and shows what it is waiting for (the first "
        "start builds the broker and can take minutes).",
        (
            "crisiswatch infra up",
            "crisiswatch infra status",
            "crisiswatch infra down --keep-postgres",
        ),
    ),
    "db": CommandText(
        "Apply or roll back database migrations (alembic). `upgrade` goes to `head` unless "
        "told otherwise; `downgrade` needs an explicit target, because it drops data.",
        ("crisiswatch db upgrade", "crisiswatch db downgrade -1", "crisiswatch db downgrade base"),
    ),
    "config": CommandText(
        "Print the configuration reference: every CRISISWATCH_ setting with its default "
        "and a one-line comment, in .env format.",
        ("crisiswatch config env-example > .env",),
    ),
    "bench": CommandText(
        "Measure throughput, latency and memory of each stage against its ceiling, on "
        "this machine's Kafka and PostgreSQL.",
        (
            "crisiswatch bench --quick",
            "crisiswatch bench --only ingest --json bench.json",
            "crisiswatch bench --only api-scale --scale-mentions 10000000",
        ),
    ),
    "eval": CommandText(
        "Score a labelled file: sentiment or emotion (CSV/JSONL with text,label), "
        "detection (timestamp,value with anomaly windows), stories "
        "(text,created_at,story, clustered online in time order) or topics "
        "(language,text,expected,split: crisis-topic matches after the idiom list and the "
        "context gate).",
        (
            "crisiswatch eval sentiment reviews.csv --scorer vader",
            "crisiswatch eval stories mixture.csv",
            "crisiswatch eval topics tests/data/topic_context/*.csv",
            "crisiswatch eval detection series.csv --labels windows.json --preset strict",
            "crisiswatch eval detection --scenarios --forecast",
        ),
    ),
    "watchlists": CommandText(
        "Store the YAML watchlists of a directory in the database (every file validated "
        "first, audited; ingest matches them within a poll period), or write the stored "
        "watchlists to a directory as YAML.",
        (
            "crisiswatch watchlists import deploy/watchlists",
            "crisiswatch watchlists export /tmp/watchlists",
        ),
    ),
    "playbooks": CommandText(
        "Store the YAML playbooks of a directory in the database (every file validated "
        "first, the set checked: one playbook per category and a generic one; audited; the "
        "next incident uses them), or write the playbooks in force to a directory as YAML. "
        "Without a directory, import stores the packaged playbooks.",
        (
            "crisiswatch playbooks import",
            "crisiswatch playbooks import ./playbooks",
            "crisiswatch playbooks export /tmp/playbooks",
        ),
    ),
    "digest": CommandText(
        "Preview a brand digest (volume and sentiment against the previous period, share "
        "of voice, top stories and phrases, incidents; each with a chart) as an HTML file, "
        "or send one now to the digest channels. A period is sent at most once, whoever "
        "sends it (this command or the alerting service's schedule). --end names the local "
        "day after the period (default: the latest complete period).",
        (
            "crisiswatch digest --brand acme --period day --out digest.html",
            "crisiswatch digest send --brand acme --period daily",
            "crisiswatch digest send --brand acme --period weekly --end 2026-11-30",
        ),
    ),
    "replay": CommandText(
        "Stream a JSONL or CSV file of mentions through the ingest path into Kafka, as fast "
        "as possible or at N x real time.",
        (
            "crisiswatch replay mentions.jsonl",
            "crisiswatch replay mentions.csv --speed 60 --rebase",
        ),
    ),
    "model": CommandText(
        "Rebuild the shipped sentiment models from the datasets (see tools/data.py for "
        "where they are looked for).",
        ("crisiswatch model build", "crisiswatch model build --kind chinese --output /tmp/m"),
    ),
    "backtest": CommandText(
        "Replay stored mentions of one brand through the detector: which incidents a rule "
        "set would have raised, and when.",
        (
            "crisiswatch backtest --brand acme --start 2026-11-01T00:00:00Z "
            "--end 2026-11-08T00:00:00Z --preset sensitive",
        ),
    ),
    "apikey": CommandText(
        "Create, revoke or list API keys. Roles: viewer < responder < admin; ingest keys "
        "may only push mentions. A new key's secret is printed once.",
        (
            "crisiswatch apikey create --name grafana --role viewer",
            "crisiswatch apikey create --name shop-webhook --role ingest",
            "crisiswatch apikey list",
            "crisiswatch apikey revoke --id 3",
        ),
    ),
    "privacy": CommandText(
        "Data-protection operations: erase every mention of one author (right to erasure).",
        (
            "crisiswatch privacy erase --author a_3f2c...",
            "crisiswatch privacy erase --author t2_9xyz --platform reddit",
        ),
    ),
    "demo": CommandText(
        "Run every service against local Kafka and PostgreSQL, generate a crisis and show "
        "the live view (Ctrl-C stops).",
        ("crisiswatch demo",),
    ),
    "run": CommandText(
        "Run ingest, sentiment, alerting and the API as child processes until Ctrl-C.",
        ("crisiswatch run",),
    ),
    "ingest": CommandText(
        "Run the ingest service: the push endpoint, Meta webhooks and the connectors of "
        "the watchlists' subscriptions.",
        ("CRISISWATCH_WATCHLIST_DIR=deploy/watchlists crisiswatch ingest",),
    ),
    "sentiment": CommandText(
        "Run one sentiment worker (start several: they share the partitions).",
        ("crisiswatch sentiment",),
    ),
    "alerting": CommandText(
        "Run the alerting service: detection, incidents, playbooks and notifications.",
        ("crisiswatch alerting",),
    ),
    "api": CommandText(
        "Run the HTTP API (OpenAPI documentation at /docs).",
        ("CRISISWATCH_API_HOST=0.0.0.0 crisiswatch api",),
    ),
}


def epilog(name: str) -> str:
    """The examples block of `name`'s help."""
    lines = "\n".join(f"  {example}" for example in COMMANDS[name].examples)
    return f"examples:\n{lines}"
