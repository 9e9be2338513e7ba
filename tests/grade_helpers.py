"""Shared pieces of the grading tests: the fixtures' folder, the options the lab-style
fixtures need, and a way to run ``faults grade`` in-process and keep what it printed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faults.grade import cli

SUBMISSIONS = Path(__file__).parent / "submissions"
CONFIG = f"config.json={SUBMISSIONS / 'config.template.json'}"
LAB = ["--config", CONFIG, "--claim-timeout", "500", "--exit-within", "10"]
"""What every lab-style fixture needs: its config.json rendered with the run's Redis and
inputs, and its claim timeout (500 ms in the template); the bound for hangs is shorter
than the default, yet ten times a fault-free run on a loaded machine."""
ENGINE = [
    "--cmd",
    "wordcount run {data_dir} --workers {workers} --job grade "
    "--claim-timeout {claim_timeout_ms}ms --no-progress --top 0",
    "--env",
    "WORDCOUNT_REDIS_URL={redis_url}",
    "--counts-key",
    "wc:{grade}:counts",
    "--claim-timeout",
    "500",
    "--exit-within",
    "20",
]
"""This project's engine, driven black-box (the URL with its password goes through the
environment, never the command line)."""


def grade(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    """Run ``faults grade ARGS`` in this process: (exit status, stdout + stderr)."""
    code = cli.main(["grade", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out + out.err


def skip_on_docker_backend(config: pytest.Config) -> None:
    """Grading starts its own redis-server processes whatever the backend: run once."""
    backend = config.getoption("--redis-backend") or os.environ.get("WORDCOUNT_TEST_BACKEND")
    if backend == "docker":
        pytest.skip("grading runs its own redis-server processes: tested on the process backend")
