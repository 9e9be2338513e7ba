"""Mistakes a user can make, through the real command line: each gives one ``error:`` line
that says what to change, a non-zero exit status, and never a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from engine import crashpoints
from engine.inputs import expand_inputs
from engine.nodes.base import RedisNode
from engine.output import read_counts_file
from engine.serial import count_tasks
from engine.supervisor import URL_ENV
from engine.tokenize import Tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
BREAK_PATH_ENV = "WORDCOUNT_TEST_BREAK_PATH"
BREAK_HOW_ENV = "WORDCOUNT_TEST_BREAK_HOW"


def _cli(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != URL_ENV}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
    )


def _assert_one_line_error(
    proc: subprocess.CompletedProcess[str], *fragments: str, status: int = 2
) -> str:
    """The whole of stderr is one ``error:`` line containing every fragment."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


@pytest.fixture
def words_file(tmp_path: Path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("some words to count\n")
    return path


# --- inputs ------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path, words_file: Path) -> None:
    proc = _cli(["run", str(words_file), str(tmp_path / "nope.txt")], tmp_path)
    _assert_one_line_error(proc, "nope.txt", "no such file or directory")


def test_glob_matching_nothing(tmp_path: Path) -> None:
    proc = _cli(["run", str(tmp_path / "*.nothing")], tmp_path)
    _assert_one_line_error(proc, "no files match", "*.nothing")


def test_directory_with_csv_but_no_column(tmp_path: Path, words_file: Path) -> None:
    (tmp_path / "table.csv").write_text("id,text\n1,hello\n")
    proc = _cli(["run", str(tmp_path)], tmp_path)
    _assert_one_line_error(proc, "table.csv", "--csv-column")


def test_csv_lacking_the_column(tmp_path: Path) -> None:
    (tmp_path / "table.csv").write_text("id,body,author\n1,hello,me\n")
    proc = _cli(["run", str(tmp_path), "--csv-column", "text"], tmp_path)
    _assert_one_line_error(proc, "table.csv", "'text'", "id, body, author", "--csv-column")


def test_bad_options(tmp_path: Path, words_file: Path) -> None:
    _assert_one_line_error(_cli(["run", str(words_file), "--workers", "0"], tmp_path), "--workers")
    _assert_one_line_error(
        _cli(["run", str(words_file), "--persistence", "sometimes"], tmp_path),
        "unknown persistence",
    )
    _assert_one_line_error(
        _cli(["run", str(words_file), "--job", "no spaces/here"], tmp_path), "invalid job ID"
    )


# --- an input that breaks after the job started -------------------------------------------


def break_input_after_bootstrap() -> crashpoints.Hook:
    """Crash-point hook factory (for the driver process): once every task is in Redis,
    delete one input or put a directory in its place, before any worker reads it."""
    path = Path(os.environ[BREAK_PATH_ENV])
    how = os.environ[BREAK_HOW_ENV]

    def hook(name: str, context: dict[str, Any]) -> None:
        if name != crashpoints.DRIVER_BOOTSTRAP or context["added"] != context["total"]:
            return
        if path.is_file():
            path.unlink()
            if how == "directory":
                path.mkdir()

    return hook


@pytest.mark.parametrize("how", ["deleted", "directory"])
def test_input_unreadable_after_bootstrap(tmp_path: Path, how: str) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for i in range(4):
        (inputs / f"good-{i}.txt").write_text(f"good words {i} good\n" * (i + 1))
    bad = inputs / "bad.txt"
    bad.write_text("these words are never counted\n")
    good = [str(p) for p in sorted(inputs.glob("good-*.txt"))]
    expected = count_tasks(expand_inputs(good), Tokenizer())
    out = tmp_path / "counts.json"
    env = {
        crashpoints.HOOK_ENV: f"{Path(__file__).stem}:{break_input_after_bootstrap.__name__}",
        BREAK_PATH_ENV: str(bad),
        BREAK_HOW_ENV: how,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    proc = _cli(
        ["run", str(inputs), "--workers", "2", "--output", str(out), "--no-progress"],
        tmp_path,
        env,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert ": failed, 4 of 5 tasks counted" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: 1 input(s) could not be counted:"], proc.stderr
    named = proc.stderr.split(errors[0], 1)[1].strip().splitlines()
    assert len(named) == 1 and named[0].startswith(f"{bad}: cannot read {bad}"), named
    assert ("Is a directory" if how == "directory" else "No such file") in named[0]
    assert read_counts_file(out) == dict(expected)  # the good inputs are counted exactly
    assert proc.stdout.split()[:2] == [str(expected.most_common(1)[0][1]), "good"]


# --- Redis -------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_redis_fails_fast(tmp_path: Path, words_file: Path) -> None:
    port = _closed_port()
    started = time.monotonic()
    proc = _cli(
        ["run", str(words_file), "--redis-url", f"redis://127.0.0.1:{port}"], tmp_path, timeout=30
    )
    elapsed = time.monotonic() - started
    _assert_one_line_error(proc, f"Redis at 127.0.0.1:{port}", "did not answer", "running")
    assert elapsed < 10, f"took {elapsed:.1f} s to give up"


def test_unreachable_redis_worker(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}"
    args = ["worker", "--redis-url", url, "--job", "j", "--redis-timeout", "1"]
    _assert_one_line_error(_cli(args, tmp_path, timeout=30), "did not answer")


def _url_with(node: RedisNode, password: str | None) -> str:
    auth = "" if password is None else f":{password}@"
    return f"redis://{auth}{node.host}:{node.port}/0"


def test_wrong_password(tmp_path: Path, words_file: Path, redis_node: RedisNode) -> None:
    url = _url_with(redis_node, "not-the-password")
    line = _assert_one_line_error(
        _cli(["run", str(words_file), "--redis-url", url], tmp_path),
        f"{redis_node.host}:{redis_node.port}",
        "credentials",
        "password",
    )
    assert "not-the-password" not in line


def test_missing_password(tmp_path: Path, words_file: Path, redis_node: RedisNode) -> None:
    url = _url_with(redis_node, None)
    _assert_one_line_error(
        _cli(["run", str(words_file), "--redis-url", url], tmp_path),
        "requires a password",
        "redis://:PASSWORD@",
    )


@pytest.mark.parametrize(
    "url", ["http://localhost:6379", "localhost:6379", "redis://localhost:notaport"]
)
def test_invalid_url(tmp_path: Path, words_file: Path, url: str) -> None:
    proc = _cli(["run", str(words_file), "--redis-url", url], tmp_path, timeout=30)
    _assert_one_line_error(proc, "invalid Redis URL")


def test_invalid_url_hides_the_password(tmp_path: Path) -> None:
    proc = _cli(["status", "--redis-url", "http://:s3cret@localhost:1"], tmp_path)
    line = _assert_one_line_error(proc, "invalid Redis URL")
    assert "s3cret" not in line


@pytest.mark.parametrize("command", ["worker", "status", "top"])
def test_command_without_a_url(tmp_path: Path, command: str) -> None:
    args = [command] if command == "status" else [command, "--job", "j"]
    _assert_one_line_error(_cli(args, tmp_path), "--redis-url", URL_ENV)


def test_top_of_no_such_job(tmp_path: Path, redis_url: str) -> None:
    proc = _cli(["top", "--job", "nosuch", "--redis-url", redis_url], tmp_path)
    line = _assert_one_line_error(proc, "no job 'nosuch'")
    assert redis_url.split("@")[0].split(":")[-1] not in line, "the password must not show"
