"""Fixtures for the tests that call engine/wordcount.lua's functions directly (the
suite-wide fixtures, Redis nodes and clients among them, are in the repository's
``conftest.py``)."""

from __future__ import annotations

import pytest
import redis
from function_helpers import make_tasks

from engine.job import JobSettings, bootstrap
from engine.keys import JobKeys


@pytest.fixture
def keys(job_id: str) -> JobKeys:
    return JobKeys(job_id)


@pytest.fixture
def job3(redis_client: redis.Redis, keys: JobKeys) -> JobKeys:
    """A ready job with three tasks."""
    info = bootstrap(redis_client, keys, JobSettings(), make_tasks(3))
    assert info.state == "ready" and info.n_tasks == 3
    return keys
