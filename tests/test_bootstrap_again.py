"""A job that Redis lost is rebuilt whatever the phase (issue 11 bug 1, issue 12.3).

The bootstrap runs until Redis holds the whole job: a job wiped just after it was marked
ready used to stop the driver with "no job '...' in Redis" (exit 2), and a job back in
state ``bootstrapping`` (a restart from a snapshot taken mid-bootstrap) was left so.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from function_helpers import make_tasks

from engine import functions
from engine.job import JobSettings, bootstrap, needs_bootstrap, read_job
from engine.keys import JobKeys


def test_a_job_wiped_right_after_it_was_marked_ready_is_bootstrapped_again(
    redis_client: redis.Redis, keys: JobKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = functions.Library.fcall
    wiped = []

    def fcall(self: functions.Library, name: str, keys_: list[str], args: list[Any]) -> Any:
        reply = real(self, name, keys_, args)
        if name == "wc_mark_ready" and not wiped:
            wiped.append(name)
            redis_client.delete(*keys.all_fixed())  # as a wipe and restart would
        return reply

    monkeypatch.setattr(functions.Library, "fcall", fcall)
    info = bootstrap(redis_client, keys, JobSettings(), make_tasks(4))
    assert wiped
    assert info.state == "ready" and info.n_tasks == 4
    assert redis_client.xlen(keys.tasks) == 4


def test_a_job_rolled_back_to_mid_bootstrap_needs_and_gets_the_rest(
    redis_client: redis.Redis, keys: JobKeys
) -> None:
    tasks = make_tasks(5)
    bootstrap(redis_client, keys, JobSettings(), tasks[:2])  # the first two, as a snapshot
    redis_client.hset(keys.job, mapping={"state": "bootstrapping", "n_tasks": 0})
    info = read_job(redis_client, keys)
    assert info is not None and needs_bootstrap(info)
    info = bootstrap(redis_client, keys, JobSettings(), tasks)
    assert info.state == "ready" and info.n_tasks == 5 and not needs_bootstrap(info)
    assert redis_client.xlen(keys.tasks) == 5
