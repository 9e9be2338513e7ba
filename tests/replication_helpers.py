"""Shared by the replication tests: inputs, a replicated group, and a job run as the real
command line (driver and workers as processes) with its commit log and a gate."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.commitlog import LOG_ENV
from engine.crashpoints import HOOK_ENV
from engine.inputs import expand_inputs
from engine.nodes.replicated import ReplicatedGroup
from engine.nodes.replicated_docker import DockerReplicatedGroup
from engine.output import read_counts_file
from engine.serial import count_tasks
from engine.supervisor import URL_ENV
from engine.tokenize import Tokenizer
from faults.recompute import RecomputeReport, check_recomputed, read_commit_log
from faults.replication_nemesis import GATE_ENV, SLOW_ENV

JOB_TIMEOUT_S = 240.0
SMALL_BATCHES = "faults.replication_nemesis:small_batches"


def make_inputs(folder: Path, files: int = 40, words: int = 3000, seed: int = 1) -> Path:
    """Seeded text files over a small vocabulary (so counts overlap across files)."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(400)] + ["the", "of", "and"]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        text = " ".join(rng.choice(vocabulary) for _ in range(words))
        (folder / f"f{i:03}.txt").write_text(text + "\n")
    return folder


def serial_counts(folder: Path) -> Counter[str]:
    return count_tasks(expand_inputs([str(folder)]), Tokenizer())


@pytest.fixture
def group(redis_backend: str) -> Iterator[ReplicatedGroup]:
    """A started primary, 2 replicas and 3 Sentinels: local processes, or containers on a
    private Docker network."""
    made = DockerReplicatedGroup(2) if redis_backend == "docker" else ReplicatedGroup(2)
    made.start()
    try:
        yield made
    finally:
        made.close()


class Job:
    """``wordcount run`` on a group's Sentinel URL, with a commit log and a gate."""

    def __init__(
        self, tmp: Path, url: str, inputs: Path, *args: str, gate: bool = True, slow_ms: int = 0
    ) -> None:
        self.log_dir = tmp / "commits"
        self.gate_dir = tmp / "gate"
        self.gate_dir.mkdir()
        self.output = tmp / "counts.json"
        env = {**os.environ, LOG_ENV: str(self.log_dir)}
        env.pop(URL_ENV, None)
        if url:
            env[URL_ENV] = url
        if gate:
            env[HOOK_ENV] = "faults.replication_nemesis:gate_hook"
            env[GATE_ENV] = str(self.gate_dir)
            env[SLOW_ENV] = str(slow_ms)
        cmd = [sys.executable, "-m", "engine", "run", str(inputs), "--no-progress",
               "--claim-timeout", "20s", "--engine", SMALL_BATCHES,
               "--output", str(self.output), *args]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)

    def wait_gate(self) -> None:
        """Return once some worker has had a commit acknowledged and is held at the gate."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while not any(self.gate_dir.glob("committed-*")):
            assert self.proc.poll() is None, f"the job exited ({self.proc.returncode}) early"
            assert time.monotonic() < deadline, "no commit was acknowledged"
            time.sleep(0.05)

    def open_gate(self) -> None:
        (self.gate_dir / "go").touch()

    def acknowledged(self) -> int:
        return sum(check_recomputed(read_commit_log(self.log_dir)).acknowledged.values())

    def finish(self) -> dict[str, int]:
        """Wait for a clean exit and return the counts it wrote."""
        try:
            code = self.proc.wait(JOB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        assert code == 0, f"wordcount run exited with {code}"
        return read_counts_file(self.output)

    def report(self) -> RecomputeReport:
        return check_recomputed(read_commit_log(self.log_dir))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
