"""`countersign run` for real (HTTP mode, against the stand-ins) stops cleanly on
SIGTERM and on SIGINT — also when started as a background job, which inherits
SIGINT as ignored — with exit code 0 and nothing on stderr that looks like a crash."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bot.standins.postmark import PostmarkStandIn
from bot.standins.slack import SlackStandIn
from tests.fixtures.bot import make_settings

ROOT = Path(__file__).resolve().parents[2]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stops_cleanly_on_a_stop_signal(
    tmp_path: Path, slack: SlackStandIn, postmark: PostmarkStandIn, stop_with: signal.Signals
) -> None:
    settings = make_settings(slack, postmark, f"sqlite:///{tmp_path / 'bot.db'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "POSTMARK_"))}
    for name, value in settings.model_dump().items():
        if isinstance(value, str | int | float) and value != "":
            env[name] = str(value)
    env["PORT"] = "0"
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint,  # as a background job starts it
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Stop with Ctrl-C" in line:
                break
        port = re.search(r"listening on port (\d+)", "".join(lines))
        assert port, "".join(lines) + (process.stderr.read() if process.stderr else "")
        health = requests.get(f"http://127.0.0.1:{port.group(1)}/healthz", timeout=5)
        assert health.status_code == 200
        process.send_signal(stop_with)
        _, errors = process.communicate(timeout=20)
        assert process.returncode == 0, errors
        assert "Traceback" not in errors and "Errno" not in errors, errors
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
