"""The CLI's edge: our errors and invalid settings are one line on stderr and exit code 2.

A traceback is printed only with `--debug` (before the command) or log level DEBUG.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services import cli
from services.sentiment.core.topics import TopicLexicon

ROOT = Path(__file__).resolve().parents[2]


def _crisiswatch(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m services.cli ARGS` from this checkout in `cwd` (no .env there)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRISISWATCH_")}
    environ.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("crisiswatch: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture
def bad_eval_file(tmp_path: Path) -> Path:
    """A labelled-text file without the `text,label` header."""
    path = tmp_path / "bad.csv"
    path.write_text("words,mood\nlovely kettle,positive\n", encoding="utf-8")
    return path


def test_a_malformed_input_file_is_one_clear_line(bad_eval_file: Path, tmp_path: Path) -> None:
    done = _crisiswatch("eval", "sentiment", str(bad_eval_file), "--scorer", "vader", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert str(bad_eval_file) in line and "needs a header with `text` and `label`" in line


def test_eval_detection_takes_several_series_and_refuses_none(tmp_path: Path) -> None:
    lines = ["timestamp,value"] + [
        f"2024-01-01 {h:02d}:{m:02d}:00,5" for h in range(24) for m in (0, 30)
    ]
    paths = []
    for name in ("brand_a", "brand_b"):
        path = tmp_path / f"{name}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(path))
    done = _crisiswatch("eval", "detection", *paths, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summaries = [line for line in done.stdout.splitlines() if '"summary": true' in line]
    assert [s.split('"series": "')[1].split('"')[0] for s in summaries] == ["brand_a", "brand_b"]
    refused = _crisiswatch("eval", "detection", cwd=tmp_path)
    assert refused.returncode == 2
    assert "one or more series, or --scenarios" in _one_error_line(refused.stderr)


def test_invalid_settings_are_one_clear_line(tmp_path: Path) -> None:
    done = _crisiswatch(
        "config",
        "env-example",
        cwd=tmp_path,
        CRISISWATCH_TOPIC_RAW="mentions.same",
        CRISISWATCH_TOPIC_SCORED="mentions.same",
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    line = _one_error_line(done.stderr)
    assert "topic names must be distinct" in line


def test_an_invalid_port_names_the_setting(tmp_path: Path) -> None:
    done = _crisiswatch("config", "env-example", cwd=tmp_path, CRISISWATCH_PG_PORT="five")
    assert done.returncode == 2, done.stderr
    assert "pg_port: Input should be a valid integer" in _one_error_line(done.stderr)


def test_a_retired_setting_name_is_one_clear_line(tmp_path: Path) -> None:
    """An old name with two meanings stops every command, naming the names to use."""
    done = _crisiswatch("config", "env-example", cwd=tmp_path, CRISISWATCH_HTTP_TIMEOUT_S="60")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    line = _one_error_line(done.stderr)
    assert "CRISISWATCH_HTTP_TIMEOUT_S is no longer read" in line
    assert "CRISISWATCH_CONNECTOR_HTTP_TIMEOUT_S" in line
    assert "CRISISWATCH_NOTIFY_HTTP_TIMEOUT_S" in line


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--debug",), {}), ((), {"CRISISWATCH_LOG_LEVEL": "DEBUG"})],
    ids=["--debug", "log-level-debug"],
)
def test_debug_adds_the_traceback(
    bad_eval_file: Path, tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    done = _crisiswatch(
        *args, "eval", "sentiment", str(bad_eval_file), "--scorer", "vader", cwd=tmp_path, **env
    )
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "EvalFileError" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("crisiswatch: error: ")


def _load_topics(argv: list[str]) -> int:
    """A command that loads the topic lexicon given as its argument."""
    TopicLexicon.load(argv[0])
    return 0


@pytest.fixture
def root_logging() -> Iterator[None]:
    """`cli.main` configures the root logger; put pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_bad_lexicon_is_one_clear_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    root_logging: None,
) -> None:
    lexicon = tmp_path / "topics.yaml"
    lexicon.write_text("version: 1\ntopics:\n  Recall:\n    name: Recall\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("CRISISWATCH_")]:
        monkeypatch.delenv(name)
    # A command of the real CLI (through its one mapping of delegated commands).
    monkeypatch.setitem(cli.DELEGATED, "load-topics", (f"{__name__}:_load_topics", "test"))
    assert cli.main(["load-topics", str(lexicon)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{lexicon} is not a valid topic lexicon" in line


def _subcommands() -> dict[str, Any]:
    parser = cli.build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_every_subcommand_has_a_description_and_examples() -> None:
    commands = _subcommands()
    assert len(commands) >= 16
    for name, sub in commands.items():
        assert sub.description and len(sub.description) > 30, name
        assert f"crisiswatch {name}" in sub.epilog, name
        assert "examples:" in sub.format_help(), name


def test_version(tmp_path: Path) -> None:
    done = _crisiswatch("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"crisiswatch \S+\n", done.stdout)


def test_db_downgrade_needs_an_explicit_target(tmp_path: Path) -> None:
    # Refused while parsing: no settings read, no database touched.
    done = _crisiswatch("db", "downgrade", cwd=tmp_path, CRISISWATCH_PG_PORT="1")
    assert done.returncode == 2
    assert "db downgrade needs an explicit target" in done.stderr
    assert "Traceback" not in done.stderr


def test_long_commands_announce_their_steps_off_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rich.console import Console

    from shared.progress import steps

    with steps(Console(file=io.StringIO(), force_terminal=False)) as step:
        step("starting Kafka")
        step("migrating the database")
    assert capsys.readouterr().err.splitlines() == [
        "... starting Kafka",
        "... migrating the database",
    ]


def test_a_production_service_refuses_default_secrets(tmp_path: Path) -> None:
    done = _crisiswatch("api", cwd=tmp_path, CRISISWATCH_DEPLOYMENT="production")
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert "production refuses insecure settings" in line
    assert "CRISISWATCH_PG_PASSWORD" in line and "CRISISWATCH_PSEUDONYM_SECRET" in line


def test_eval_stories_prints_its_summary_last(tmp_path: Path) -> None:
    path = tmp_path / "stories.csv"
    rows = [
        ("My Voltix battery caught fire last night", "fire"),
        ("The Voltix ad with dancing robots is hilarious", "ad"),
        ("La batería de Voltix se incendió anoche", "fire"),
        ("That robot dance in the Voltix commercial made my day", "ad"),
        ("Voltix power bank exploded and burned my desk", "fire"),
    ]
    path.write_text(
        "text,created_at,story\n"
        + "".join(
            f"{text},2026-01-01T10:0{i}:00Z,{story}\n" for i, (text, story) in enumerate(rows)
        ),
        encoding="utf-8",
    )
    done = _crisiswatch("eval", "stories", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["n"] == 5 and summary["stories"] == 2
    assert {"clusters", "bcubed_precision", "bcubed_recall", "bcubed_f1", "ari",
            "fragmentation"} <= set(summary)  # fmt: skip
    assert 0 < summary["bcubed_f1"] <= 1

    bad = tmp_path / "bad.csv"
    bad.write_text("text,story\nx,a\n", encoding="utf-8")
    done = _crisiswatch("eval", "stories", str(bad), cwd=tmp_path)
    assert done.returncode == 2 and "missing column(s) created_at" in _one_error_line(done.stderr)
