"""Buggy engines that keep the old behaviour of the bugs of issue 11 (found by review).

Same plug-in contract as :mod:`faults.buggy` (``--engine faults.buggy_review:NAME``):
each departs from the real engine by one of the reproduced bugs and is otherwise the
real engine, so a fault-free run of any of them counts exactly (see
``tests/test_buggy_review_variants.py``), and a scenario under ``tests/scenarios/``
fails it (see :data:`SCENARIOS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from engine import connection
from engine.job import JobInfo, JobSettings, bootstrap, read_job
from engine.keys import JobKeys
from engine.plugins import DefaultEngine, Engine
from engine.tasks import Task


class _BootstrapOnlyWhenMissing(DefaultEngine):
    """Bug 1. Bootstraps only a job that Redis does not have at all.

    A Redis restarted from a snapshot taken mid-bootstrap comes back with the job in
    state ``bootstrapping`` and part of its tasks; this bootstrap leaves it so, and the
    job waits for ever for tasks nobody adds.
    """

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo:
        found = connection.call(client, lambda: read_job(client, keys))
        if found is not None:
            return found
        return bootstrap(client, keys, settings, tasks)


def bootstrap_only_when_missing() -> Engine:
    return _BootstrapOnlyWhenMissing()


VARIANTS = {
    "bootstrap_only_when_missing": "faults.buggy_review:bootstrap_only_when_missing",
}
"""Name -> ``--engine`` spec of every variant kept from the review of issue 11."""
SCENARIOS = {
    "bootstrap_only_when_missing": "redis-snapshot-mid-bootstrap",
}
"""Name -> the regression scenario (``tests/scenarios/NAME.json``) that the variant fails."""
