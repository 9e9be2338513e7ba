"""``wordcount flow run`` end to end on a real Redis: the issue's example programs give
the serial interpreter's output, from the command line, with real worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from engine.flow.inputs import parse_pairs, read_pairs
from engine.flow.interpret import interpret
from engine.flow.program import load_program
from engine.keys import FlowKeys
from engine.supervisor import URL_ENV

SEED = {
    "partitions": 2,
    "input": "input.csv",
    "operations": [
        {"operator": "map", "function": "ADD", "arg": 6},
        {"operator": "reduce", "function": "ADD"},
    ],
}
BETWEEN_REDUCES = {
    "partitions": 3,
    "input": "data/input.csv",
    "operations": [
        {"operator": "reduce", "function": "SUM"},
        {"operator": "changeKey", "function": "MOD", "arg": 4},
        {"operator": "reduce", "function": "PRODUCT"},
        {"operator": "map", "function": "SUB", "arg": 1},
    ],
}
ROWS = "".join(f"{k % 7 - 3},{(k * 37) % 101 - 50}\n" for k in range(60))


def flow(*args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {URL_ENV: url} if url else {}
    return subprocess.run(
        [sys.executable, "-m", "engine", "flow", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def write(tmp_path: Path, program: dict[str, object]) -> Path:
    path = tmp_path / "program.json"
    path.write_text(json.dumps(program))
    data = path.parent / str(program["input"])
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(ROWS)
    return path


@pytest.mark.parametrize(
    "program", [SEED, BETWEEN_REDUCES], ids=["seed", "changekey-between-reduces"]
)
def test_cli_equals_the_serial_interpreter(
    tmp_path: Path,
    redis_url: str,
    redis_client: redis.Redis,
    job_id: str,
    program: dict[str, object],
) -> None:
    path = write(tmp_path, program)
    expected = interpret(load_program(path), read_pairs(path.parent / str(program["input"])))
    out = tmp_path / "out.csv"
    done = flow(
        "run", str(path), "--workers", "3", "--job", job_id, "--output", str(out), url=redis_url
    )
    assert done.returncode == 0, done.stderr
    assert parse_pairs(out.read_text(), "out") == expected
    assert len(expected) > 1
    keys = FlowKeys(job_id)
    runs = redis_client.hgetall(keys.runs)
    stages = 1 if program is SEED else 2
    assert sorted(runs.values()) == [b"1"] * (stages * int(program["partitions"]))  # type: ignore[call-overload]
    # Resuming the finished job runs nothing again and prints the same result.
    again = flow("run", str(path), "--job", job_id, url=redis_url)
    assert again.returncode == 0, again.stderr
    assert parse_pairs(again.stdout, "stdout") == expected
    assert redis_client.hgetall(keys.runs) == runs
    serial = flow("serial", str(path))
    assert parse_pairs(serial.stdout, "stdout") == expected


def test_cli_input_override_and_embedded_redis(tmp_path: Path) -> None:
    path = write(tmp_path, SEED)
    other = tmp_path / "other.csv"
    other.write_text("5,1\n5,2\n-5,3\n")
    done = flow("run", str(path), "--input", str(other), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "-5,9\n5,15\n"


def test_cli_refuses_another_program_under_the_same_job(
    tmp_path: Path, redis_url: str, job_id: str
) -> None:
    path = write(tmp_path, SEED)
    assert flow("run", str(path), "--job", job_id, url=redis_url).returncode == 0
    path.write_text(json.dumps({**SEED, "partitions": 3}))
    refused = flow("run", str(path), "--job", job_id, url=redis_url)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: job") and "another program" in refused.stderr


def test_status_and_delete_know_dataflow_jobs(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, job_id: str
) -> None:
    path = write(tmp_path, BETWEEN_REDUCES)
    assert flow("run", str(path), "--job", job_id, url=redis_url).returncode == 0
    env = {**os.environ, URL_ENV: redis_url}
    status = subprocess.run(
        [sys.executable, "-m", "engine", "status", "--job", job_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert status.returncode == 0 and "stage:        1 of 2" in status.stdout, status.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "engine", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert f"{job_id}  done  flow stage 1 of 2" in listing.stdout, listing.stderr
    deleted = subprocess.run(
        [sys.executable, "-m", "engine", "delete", "--job", job_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert deleted.returncode == 0, deleted.stderr
    assert not list(redis_client.scan_iter(f"wc:{{{job_id}}}:*"))
