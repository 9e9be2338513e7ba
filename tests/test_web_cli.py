"""``wordcount serve`` and ``run --serve`` from the command line: the server is up while the
driver runs its job and gone after, and bad options are one ``error:`` line each."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from web_helpers import files

from engine.driver import RunOptions, run
from engine.supervisor import URL_ENV
from engine.web import cli as web_cli

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_serve_serves_the_job_while_it_runs(
    redis_url: str, job_id: str, tmp_path: Path
) -> None:
    port = free_port()
    start = web_cli.run_hook(argparse.Namespace(serve=port))
    assert start is not None
    seen: dict[str, int] = {}

    def on_redis(url: str, job: str) -> Callable[[], None]:
        stop = start(url, job)
        answer = httpx.get(f"http://127.0.0.1:{port}/jobs/{job}", timeout=30)
        seen["before bootstrap"] = answer.status_code  # up, and the job not made yet
        return stop

    files(tmp_path, 3)
    options = RunOptions(paths=[str(tmp_path)], workers=1, redis_url=redis_url, job_id=job_id,
                         progress=False, on_redis=on_redis)  # fmt: skip
    result = run(options)
    assert result.info.state == "done" and seen == {"before bootstrap": 404}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/jobs", timeout=5)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=120,
        cwd=REPO_ROOT, env=env,
    )  # fmt: skip


def test_serve_on_a_busy_port_is_one_error_line(redis_url: str, busy_port: int) -> None:
    done = _cli("serve", "--redis-url", redis_url, "--port", str(busy_port))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot listen on 127.0.0.1:{busy_port}")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_run_serve_on_a_busy_port_is_one_error_line(
    redis_url: str, busy_port: int, tmp_path: Path
) -> None:
    files(tmp_path, 1)
    done = _cli("run", str(tmp_path), "--redis-url", redis_url, "--serve", str(busy_port))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: cannot listen on 127.0.0.1:{busy_port}" in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["serve"], f"error: no Redis given: pass --redis-url URL or set ${URL_ENV}"),
     (["serve", "--redis-url", "http://x"], "error: invalid Redis URL 'http://x'"),
     (["serve", "--redis-url", "redis://x:1", "--port", "70000"], "error: --port 70000"),
     (["serve", "--redis-url", "redis://x:1", "--token-file", "/no/such"],
      "error: --token-file /no/such")],
)  # fmt: skip
def test_bad_serve_options_are_one_error_line(args: list[str], expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != URL_ENV}
    done = _cli(*args, env=env)
    assert done.returncode == 2 and done.stderr.startswith(expected), done.stderr
    assert "Traceback" not in done.stderr
