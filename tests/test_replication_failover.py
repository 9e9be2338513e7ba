"""Replication's promise on real processes: a primary, 2 replicas, 3 Sentinels, and
``--sync-replicas 1``. A SIGKILLed primary is failed over and the job ends exact with no
acknowledged commit lost and recomputed; two of three data nodes down stop progress
without losing anything, and one node back lets the job finish."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from replication_helpers import Job, group, make_inputs, serial_counts

from engine.nodes.replicated import ReplicatedGroup
from faults import replication_nemesis as nemesis

__all__ = ["group"]
pytestmark = pytest.mark.parametrize("redis_backend", ["process"], indirect=True)
STALL_OBSERVED_S = 3.0
"""How long the test watches a job that must not progress (an observation, not a limit)."""


def test_primary_killed_mid_job_fails_over_without_recomputing(
    group: ReplicatedGroup, tmp_path: Path, redis_backend: str
) -> None:
    inputs = make_inputs(tmp_path / "in")
    job = Job(tmp_path, group.url, inputs, "--workers", "3", "--sync-replicas", "1")
    try:
        job.wait_gate()
        old = group.master_address()
        killed = nemesis.kill_primary(group)
        job.open_gate()
        counts = job.finish()
    finally:
        job.kill()
    assert group.master_address() not in (None, old), f"no failover after {killed}"
    assert counts == serial_counts(inputs)
    report = job.report()
    assert report.recomputed == {}, report.summary()
    assert set(report.acknowledged) == set(range(40)), report.summary()


@pytest.mark.parametrize("victims", ["both-replicas", "primary-and-replica"])
def test_two_of_three_down_stops_progress_until_one_is_back(
    group: ReplicatedGroup, tmp_path: Path, redis_backend: str, victims: str
) -> None:
    inputs = make_inputs(tmp_path / "in")
    job = Job(tmp_path, group.url, inputs, "--workers", "2", "--sync-replicas", "1")
    try:
        job.wait_gate()
        if victims == "both-replicas":
            nemesis.kill_replicas(group, 2)
        else:
            nemesis.kill_primary(group)
            nemesis.kill_replicas(group, 1)
        job.open_gate()
        time.sleep(1.0)  # a WAIT answered before the kill may still be logging
        before = job.acknowledged()
        time.sleep(STALL_OBSERVED_S)
        assert job.proc.poll() is None, "the job finished with one data node of three"
        assert job.acknowledged() == before, "a commit was acknowledged with no replica up"
        nemesis.restart_killed(group, limit=1)
        counts = job.finish()
    finally:
        job.kill()
    assert counts == serial_counts(inputs)
    report = job.report()
    assert report.recomputed == {}, report.summary()
