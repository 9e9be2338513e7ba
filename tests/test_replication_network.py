"""Network faults through the project's TCP proxy: a split brain (the primary cut off
from its replicas and Sentinels while workers still reach it), and a worker cut off from
Redis. Counts must end exact either way; what the split brain cost in recomputed tasks is
reported, and with ``--sync-replicas 1`` it must be nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from replication_helpers import SMALL_BATCHES, Job, make_inputs, serial_counts

from engine.commitlog import LOG_ENV
from engine.crashpoints import HOOK_ENV
from engine.nodes.base import RedisNode
from engine.supervisor import URL_ENV
from faults import netfaults
from faults.netproxy import Proxy
from faults.replication_nemesis import GATE_ENV

pytestmark = pytest.mark.parametrize("redis_backend", ["process"], indirect=True)
SPLIT_S = 3.0
"""How long the two primaries coexist after the failover (an observation window)."""


@pytest.fixture
def net() -> Iterator[netfaults.ProxiedGroup]:
    made = netfaults.proxied_group(2)
    try:
        yield made
    finally:
        made.close()


@pytest.mark.parametrize("sync", ["0", "1"])
def test_split_brain_keeps_counts_exact(
    net: netfaults.ProxiedGroup, tmp_path: Path, redis_backend: str, sync: str
) -> None:
    inputs = make_inputs(tmp_path / "in")
    job = Job(tmp_path, net.url, inputs, "--workers", "2", "--sync-replicas", sync)
    try:
        job.wait_gate()
        old = net.group.master_address()
        netfaults.partition_primary(net)
        job.open_gate()
        net.group.wait_failover(old)  # type: ignore[arg-type]
        time.sleep(SPLIT_S)
        netfaults.heal(net)
        counts = job.finish()
    finally:
        job.kill()
    assert counts == serial_counts(inputs)
    report = job.report()
    print(f"split brain, --sync-replicas {sync}: {report.summary()}")
    assert set(report.acknowledged) == set(range(40)), report.summary()
    if sync == "1":
        assert report.recomputed == {}, report.summary()


def test_worker_cut_off_from_redis(
    redis_node_factory: object, tmp_path: Path, redis_backend: str
) -> None:
    """One worker behind a black-holed proxy: its tasks are stolen after the claim
    timeout, and when the link comes back its late commit is refused."""
    node: RedisNode = redis_node_factory()  # type: ignore[operator]
    proxy = Proxy(node.host, node.port).start()
    inputs = make_inputs(tmp_path / "in")
    job = Job(tmp_path, node.url, inputs, "--workers", "1", "--job", "cut", "--claim-timeout", "2s")
    cut_url = node.url.replace(f":{node.port}/", f":{proxy.port}/")
    gate = tmp_path / "gate-cut"
    gate.mkdir()
    env = {**os.environ, URL_ENV: cut_url, LOG_ENV: str(job.log_dir), GATE_ENV: str(gate),
           HOOK_ENV: "faults.replication_nemesis:gate_hook"}  # fmt: skip
    extra: subprocess.Popen[bytes] | None = None
    try:
        job.wait_gate()  # the run's own worker holds after one commit; now the other one
        extra = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker", "--job", "cut", "--engine", SMALL_BATCHES],
            env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        while not any(gate.glob("committed-*")):
            assert extra.poll() is None, "the cut-off worker exited before committing"
            time.sleep(0.05)
        netfaults.cut_link(proxy)
        (gate / "go").touch()
        job.open_gate()
        counts = job.finish()
        proxy.set_mode("pass")
        assert extra.wait(120) == 0
    finally:
        job.kill()
        if extra is not None:
            extra.kill()
        proxy.close()
    assert counts == serial_counts(inputs)
    report = job.report()
    print(f"worker cut off: {report.summary()}")
    assert report.recomputed == {}, report.summary()
