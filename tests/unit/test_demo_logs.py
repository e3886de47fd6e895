"""The demo's live view keeps the terminal: its own log records go to the log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from tools.demo.run import logs_to_file


def test_receiver_logs_go_to_the_file_not_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    # Other tests start aiosmtpd, whose `mail.log` logger they may quieten: start from default.
    mail = logging.getLogger("mail.log")
    saved = (mail.level, mail.propagate, mail.disabled, mail.handlers[:])
    mail.setLevel(logging.NOTSET)
    mail.propagate, mail.disabled, mail.handlers = True, False, []
    # Only this test's terminal: handlers other tests left behind may write to closed streams.
    saved_root = root.handlers[:]
    terminal = logging.StreamHandler(sys.stderr)
    root.handlers = [terminal]
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        path = tmp_path / "demo.log"
        with logs_to_file(path):
            logging.getLogger("mail.log").info("Peer: ('127.0.0.1', 40000)")
        logging.getLogger("tools.demo").info("after the demo")
    finally:
        root.handlers = saved_root
        root.setLevel(old_level)
        mail.setLevel(saved[0])
        mail.propagate, mail.disabled, mail.handlers = saved[1], saved[2], saved[3]
    err = capsys.readouterr().err
    assert "Peer:" not in err
    assert "after the demo" in err  # the terminal handler is back afterwards
    logged = path.read_text()
    assert "mail.log" in logged and "Peer: ('127.0.0.1', 40000)" in logged
