"""Bad inputs and operations of issue 11, through the real command line: malformed CSV,
broken Redis URLs and servers, fractional chunk sizes, unwritable outputs, SIGTERM, and
entries of a directory that are not files. Each gives one ``error:`` line (or one warning)
naming the value and what to change, never a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from test_bad_input import _assert_one_line_error, _cli

from engine.inputs import expand_inputs
from engine.nodes.base import RedisNode
from engine.output import read_counts_file
from engine.serial import count_tasks
from engine.supervisor import URL_ENV
from engine.tokenize import Tokenizer

# --- malformed CSV --------------------------------------------------------------------------


def _csv(tmp_path: Path, name: str, good_rows: int, bad: str) -> Path:
    path = tmp_path / name
    rows = ["text,n", *(f"w{i} same,{i}" for i in range(good_rows)), bad, "after it,1"]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("good_rows", "bad", "row", "reason"),
    [
        (0, '"never closed,1', 1, "never closed"),
        (50_001, '"never closed,1', 50_002, "never closed"),
        (3, "a,b,c", 4, "3 fields where the header has 2"),
        (2, '"ab"c,1', 3, "expected after"),
    ],
)
def test_malformed_csv_fails_alike_in_run_and_serial(
    tmp_path: Path, good_rows: int, bad: str, row: int, reason: str
) -> None:
    """One attempt, no traceback, and the same message naming the row from both tools."""
    path = _csv(tmp_path, "bad.csv", good_rows, bad)
    expected = f"{path} is not valid CSV at row {row} (line {row + 1})"
    serial = _cli(["serial", str(path), "--csv-column", "text"], tmp_path)
    line = _assert_one_line_error(serial, expected, reason)
    started = time.monotonic()
    run = _cli(["run", str(path), "--csv-column", "text", "--no-progress"], tmp_path)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert f"  {path}: {line.removeprefix('error: ')}" in run.stderr
    assert "gave up after" not in run.stderr
    assert run.stderr.count("dead-lettered") == 1, run.stderr
    assert time.monotonic() - started < 60


def test_well_formed_csv_counts_the_same(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text('text,n\n"a, b",1\n\nc d,2\n"two\nlines",3\nshort\n')
    out = tmp_path / "out.csv"
    run = _cli(
        ["run", str(path), "--csv-column", "text", "--no-progress", "-o", str(out)], tmp_path
    )
    assert run.returncode == 0, run.stderr
    reference = count_tasks(expand_inputs([str(path)], csv_column="text"), Tokenizer())
    assert read_counts_file(out) == dict(reference)
    assert reference["short"] == 1 and reference["a,"] == 1


# --- Redis URLs and servers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("redis://:pw@localhost:notaport", "port 'notaport' is not a number from 1 to 65535"),
        ("redis://:pw@localhost:99999", "port '99999' is not a number from 1 to 65535"),
        ("redis://localhost:6379/abc", "database 'abc' is not a number"),
        ("redis://:pw@:6379", "no host"),
    ],
)
def test_bad_url(tmp_path: Path, url: str, fragment: str) -> None:
    line = _assert_one_line_error(_cli(["status", "--redis-url", url], tmp_path), fragment)
    assert ":pw@" not in line


def test_database_out_of_range(tmp_path: Path, redis_node: RedisNode) -> None:
    url = f"redis://:{redis_node.password}@{redis_node.host}:{redis_node.port}/99"
    line = _assert_one_line_error(
        _cli(["status"], tmp_path, env={URL_ENV: url}), "no database 99", "databases"
    )
    assert redis_node.password not in line


def test_acl_user_without_info(
    tmp_path: Path, redis_node: RedisNode, redis_client: redis.Redis, job_id: str
) -> None:
    user = f"noinfo-{job_id}"
    redis_client.acl_setuser(
        user, enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-info"]
    )
    try:
        url = f"redis://{user}:pw@{redis_node.host}:{redis_node.port}/0"
        _assert_one_line_error(
            _cli(["status"], tmp_path, env={URL_ENV: url}), f"user {user!r}", "+info"
        )
    finally:
        redis_client.acl_deluser(user)


@pytest.fixture
def not_redis() -> Iterator[int]:
    """A port answered by something that is not Redis (an HTTP-ish reply)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


def test_port_answered_by_something_else(tmp_path: Path, not_redis: int) -> None:
    proc = _cli(["status", "--redis-url", f"redis://127.0.0.1:{not_redis}"], tmp_path)
    _assert_one_line_error(proc, "does not speak the Redis protocol", "host and port")


# --- sizes ------------------------------------------------------------------------------------


def test_fractional_bytes_refused(tmp_path: Path) -> None:
    words = tmp_path / "w.txt"
    words.write_text("a b c\n" * 100)
    proc = _cli(["run", str(words), "--chunk-size", "1.5"], tmp_path)
    _assert_one_line_error(proc, "--chunk-size '1.5'", "1.5 bytes", "whole")
    ok = _cli(["run", str(words), "--chunk-size", "1.5KB", "--no-progress"], tmp_path)
    assert ok.returncode == 0, ok.stderr


# --- --output -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "fragment"),
    [("missing/dir/c.csv", "does not exist"), ("/proc/c.csv", "cannot create files in /proc")],
)
@pytest.mark.parametrize("command", ["run", "serial"])
def test_output_checked_before_starting(
    tmp_path: Path, output: str, fragment: str, command: str
) -> None:
    words = tmp_path / "w.txt"
    words.write_text("a b\n")
    extra = ["--no-progress"] if command == "run" else []
    proc = _cli([command, str(words), "--output", output, *extra], tmp_path)
    _assert_one_line_error(proc, f"--output {output}", fragment)
    assert "job " not in proc.stderr  # refused before any job began


def _full_disk(folder: Path, name: str) -> None:
    """Make the next write of ``name`` there fail with ENOSPC: its temporary file is a
    link to /dev/full."""
    (folder / f".{name}.tmp").symlink_to("/dev/full")


def test_full_disk_embedded_counts_go_to_a_fallback(tmp_path: Path) -> None:
    words = tmp_path / "w.txt"
    words.write_text("to be or not to be\n")
    out = tmp_path / "out"
    out.mkdir()
    _full_disk(out, "c.csv")
    job = f"full-{os.getpid()}"
    fallback = Path(os.environ.get("TMPDIR", "/tmp")) / f"wordcount-{job}-counts.csv"
    try:
        proc = _cli(
            ["run", str(words), "-o", str(out / "c.csv"), "--job", job, "--no-progress"],
            tmp_path,
        )
        line = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert proc.returncode == 2 and len(line) == 1, proc.stderr
        assert "No space left on device" in line[0] and str(fallback) in line[0]
        assert read_counts_file(fallback) == {"to": 2, "be": 2, "or": 1, "not": 1}
        assert list(out.iterdir()) == []  # no .c.csv.tmp left behind
    finally:
        fallback.unlink(missing_ok=True)


def test_full_disk_external_says_how_to_fetch(
    tmp_path: Path, redis_node: RedisNode, redis_url: str, job_id: str
) -> None:
    words = tmp_path / "w.txt"
    words.write_text("to be or not to be\n")
    out = tmp_path / "out"
    out.mkdir()
    _full_disk(out, "c.csv")
    env = {URL_ENV: redis_url}
    proc = _cli(["run", str(words), "-o", str(out / "c.csv"), "--job", job_id], tmp_path, env)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 2 and len(line) == 1, proc.stderr
    assert f"stay in Redis at redis://:***@{redis_node.host}:{redis_node.port}/0" in line[0]
    assert redis_node.password not in proc.stderr
    assert list(out.iterdir()) == []
    again = tmp_path / "again.csv"
    fetch = _cli(["top", "--job", job_id, "--output", str(again)], tmp_path, env)
    assert fetch.returncode == 0, fetch.stderr
    assert read_counts_file(again) == {"to": 2, "be": 2, "or": 1, "not": 1}


# --- SIGTERM --------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_sigterm_stops_workers_and_cleans_up(tmp_path: Path) -> None:
    """Like Ctrl-C: the workers and the embedded Redis stop, its data directory goes."""
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 4_000_000)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop(URL_ENV, None)
    cmd = [sys.executable, "-m", "engine", "run", str(big), "--chunk-size", "64KB", "-w", "2"]
    driver = subprocess.Popen([*cmd, "--no-progress"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_children(driver.pid)) < 3:  # redis-server and two workers
            assert driver.poll() is None and time.monotonic() < deadline, "job never started"
            time.sleep(0.05)
        children = _children(driver.pid)
        assert any(temp.iterdir())  # the embedded Redis's data directory
        driver.send_signal(signal.SIGTERM)
        _, stderr = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr, stderr
    assert list(temp.iterdir()) == []
    deadline = time.monotonic() + 30  # any orphan would be reaped by init, not waited for
    while any(Path(f"/proc/{pid}").exists() for pid in children):
        assert time.monotonic() < deadline, f"still running: {children}"
        time.sleep(0.05)


# --- directory entries that are not files ---------------------------------------------------


@pytest.mark.parametrize(("command", "glob"), [("serial", False), ("run", False), ("serial", True)])
def test_dangling_link_and_fifo_are_named(tmp_path: Path, command: str, glob: bool) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text("a b\n")
    (folder / "gone").symlink_to(tmp_path / "nothing-here")
    os.mkfifo(folder / "pipe")
    spec = str(folder / "*") if glob else str(folder)
    proc = _cli([command, spec, *(["--no-progress"] if command == "run" else [])], tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "warning: skipping" in ln]
    assert len(warnings) == 2, proc.stderr
    assert any(str(folder / "gone") in w and "does not exist" in w for w in warnings)
    assert any(str(folder / "pipe") in w and "FIFO" in w for w in warnings)
