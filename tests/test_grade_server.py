"""The grader's plumbing against real processes: its Redis (password off the command
line, functions back after every restart), its process tracking, and its inputs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.nodes.common import free_port
from faults.grade.options import GradeOptions
from faults.grade.procs import ProcessTree
from faults.grade.reference import per_file
from faults.grade.server import GradeRedis
from faults.grade.workspace import write_inputs
from tests.grade_helpers import SUBMISSIONS, skip_on_docker_backend

LIB = (SUBMISSIONS / "correct" / "mylib.lua").read_text()


@pytest.fixture(autouse=True)
def _process_backend_only(request: pytest.FixtureRequest) -> None:
    skip_on_docker_backend(request.config)


def test_functions_come_back_after_a_restart_even_empty(tmp_path: Path) -> None:
    server = GradeRedis(tmp_path, free_port(), "s3cret-pw", [], LIB)
    try:
        server.start()
        assert server.proc is not None
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert b"s3cret-pw" not in cmdline  # the password went in through stdin
        server.client().set("k", "v")
        server.restart(0.0)
        assert server.client().get("k") == b"v"  # fsynced append-only file
        server.restart(0.0, wipe=True)
        assert server.client().get("k") is None
        libraries = server.client().function_list()  # flat name/value lists (RESP2)
        assert [lib[lib.index(b"library_name") + 1] for lib in libraries] == [b"mylib"]
    finally:
        server.close()


def test_every_process_of_the_tree_is_killed_even_one_that_left_the_session() -> None:
    script = (
        "import os, subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    root = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    tree = ProcessTree(root)
    deadline = time.monotonic() + 60
    while len(tree.poll()) < 3:  # the root and its two children, once started
        assert time.monotonic() < deadline, "the children never started"
        time.sleep(0.05)
    seen = tree.poll()
    tree.kill_all()
    assert not tree.poll()
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in seen)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def test_csv_inputs_count_only_the_text_column(tmp_path: Path) -> None:
    files = write_inputs(tmp_path, ("a b\nb c", ""), "csv")
    assert files[0].read_text().splitlines()[0] == "id,text"
    counts = per_file(files, GradeOptions(input="csv"))
    assert counts[0] == {"a": 1, "b": 2, "c": 1} and not counts[1]
