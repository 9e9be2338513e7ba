"""Running one dataflow scenario end to end: the real ``wordcount flow run`` driver as a
subprocess (restarted after a fault crashed it), real workers, a real Redis node.

Like :mod:`faults.runner` it judges nothing: it returns what happened (the output file,
the history of arrivals, the faults fired, what Redis holds) for :mod:`.checker`.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import redis

from engine.flow import points
from engine.flow.inputs import parse_pairs
from engine.flow.worker import EXECUTOR_ENV
from engine.keys import FlowKeys
from engine.nodes.base import Persistence, RedisNode
from faults.client import DriverProcess, driver_env, kill_ours, log_tail
from faults.controller import Controller
from faults.flow.nemesis import FlowNemesis
from faults.flow.scenario import FlowFault, FlowScenario, Pair
from faults.history import History
from faults.nemesis import Nemesis

POLL_S = 0.02
PERSISTENCE = Persistence.parse("snapshot:500")
"""The node persistence the flow suite uses: a kill rolls Redis back to a snapshot up to
half a second old (a rollback), a wipe loses everything."""


@dataclasses.dataclass
class FlowOutcome:
    scenario: FlowScenario
    job_id: str
    history: History
    output: list[Pair] | None = None
    error: str | None = None
    fired: list[FlowFault] = dataclasses.field(default_factory=list)
    data_lost: bool = False
    runs: dict[str, int] = dataclasses.field(default_factory=dict)
    drivers: int = 0
    log_tail: str = ""
    duration_s: float = 0.0


def driver_argv(scenario: FlowScenario, program: Path, job_id: str, out: Path) -> list[str]:
    respawns = 3 * scenario.workers + 2 * len(scenario.faults) + 10
    return [
        sys.executable,
        "-m",
        "engine",
        "flow",
        "run",
        str(program),
        "--job",
        job_id,
        "--workers",
        str(scenario.workers),
        "--claim-timeout",
        str(scenario.claim_timeout_ms),
        "--max-respawns",
        str(respawns),
        "--output",
        str(out),
    ]


def run_flow_scenario(
    scenario: FlowScenario, node: RedisNode, *, executor: str | None = None
) -> FlowOutcome:
    """Run ``scenario`` on a started ``node``; ``executor`` names a buggy one to test."""
    history = History()
    tmp = Path(tempfile.mkdtemp(prefix="flow-"))
    job_id = f"flow-{secrets.token_hex(4)}"
    nemesis = FlowNemesis(scenario.faults, node, history)
    # The controller only calls arrive() and exited(), which FlowNemesis provides.
    controller = Controller(str(tmp / "ctl.sock"), cast(Nemesis, nemesis))
    outcome = FlowOutcome(scenario, job_id, history)
    drivers: list[DriverProcess] = []
    try:
        program = tmp / "program.json"
        program.write_text(json.dumps({**scenario.program, "input": "input.csv"}))
        (tmp / "input.csv").write_text("".join(f"{k},{v}\n" for k, v in scenario.pairs))
        controller.start()
        env = driver_env(node.url, str(tmp / "ctl.sock"), list(points.ALL), 500)
        if executor:
            env[EXECUTOR_ENV] = executor
        argv = driver_argv(scenario, program, job_id, tmp / "out.csv")
        _drive(outcome, nemesis, node, argv, env, tmp, drivers)
        nemesis.quiesce()
        _finish(outcome, nemesis, node, tmp)
    finally:
        for driver in drivers:
            driver.kill_group()
        kill_ours(nemesis.pids, str(tmp / "ctl.sock"))
        controller.stop()
        outcome.fired = list(nemesis.fired)
        outcome.data_lost = nemesis.data_lost
        outcome.duration_s = history.now()
        outcome.log_tail = log_tail(tmp / "engine.log", 30)
        shutil.rmtree(tmp, ignore_errors=True)
    return outcome


def _drive(
    outcome: FlowOutcome,
    nemesis: FlowNemesis,
    node: RedisNode,
    argv: list[str],
    env: dict[str, str],
    tmp: Path,
    drivers: list[DriverProcess],
) -> None:
    """Run the driver until it exits cleanly, fails on its own, or time runs out."""
    scenario = outcome.scenario
    deadline = time.monotonic() + scenario.timeout_s
    restarts = 1 + sum(f.on_driver for f in scenario.faults)
    keys = FlowKeys(outcome.job_id)
    while True:
        driver = DriverProcess(argv, env, tmp / "engine.log")
        driver.start()
        drivers.append(driver)
        outcome.drivers += 1
        while (code := driver.poll()) is None:
            if time.monotonic() > deadline:
                outcome.error = f"timeout: the run did not end within {scenario.timeout_s:.0f} s"
                return
            if nemesis.hung and _job_state(node, keys) == b"done":
                kill_ours(nemesis.hung, str(tmp / "ctl.sock"))  # stragglers: release them
                nemesis.hung.clear()
            time.sleep(POLL_S)
        driver.kill_group()
        if code == 0:
            return
        if driver.pid in nemesis.faulted and restarts > 0:
            restarts -= 1
            continue
        outcome.error = f"the driver exited with status {code}: {log_tail(tmp / 'engine.log', 8)}"
        return


def _job_state(node: RedisNode, keys: FlowKeys) -> bytes | None:
    try:
        client = node.client(socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return cast(bytes | None, client.hget(keys.job, "state"))
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return None


def _finish(outcome: FlowOutcome, nemesis: FlowNemesis, node: RedisNode, tmp: Path) -> None:
    out = tmp / "out.csv"
    if outcome.error is None and out.exists():
        outcome.output = parse_pairs(out.read_text(), str(out))
    elif outcome.error is None:
        outcome.error = "the driver exited 0 without writing its output"
    if nemesis.errors:
        outcome.error = outcome.error or "the nemesis failed: " + "; ".join(nemesis.errors)
    try:
        client = node.client(socket_timeout=5)
        try:
            raw: dict[bytes, bytes] = client.hgetall(FlowKeys(outcome.job_id).runs)  # type: ignore[assignment]
        finally:
            client.close()
        outcome.runs = {k.decode(): int(v) for k, v in raw.items()}
    except (redis.RedisError, OSError) as exc:
        outcome.error = outcome.error or f"cannot read the run record from Redis: {exc}"
