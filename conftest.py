"""Test infrastructure shared by the whole suite: its plugins, Redis fixtures and cleanup.

Every test runs against real Redis servers (no mocks). Which kind (local processes or
containers) is chosen by the plugin :mod:`faults.pytest_backend` (``--redis-backend``);
the engine under test by :mod:`faults.pytest_engine` (``--engine``).

Fixtures:

``redis_node_factory``
    ``factory(backend=None, *, start=True, **node_kwargs) -> RedisNode`` makes fresh nodes
    (``port``, ``password``, ``data_dir``, ``persistence``) and closes every one of them
    when the test ends, passed or failed.
``redis_backend``
    The concrete backend (``"process"`` or ``"docker"``) of the current test.
``redis_node``
    One node per xdist worker for the whole session (so ``pytest -n auto`` shares nothing
    between workers); the tests on it are kept apart by their job IDs, not by servers.
``redis_client`` / ``redis_url``
    A plain client of ``redis_node`` (bytes in and out, closed after the test) and its URL.
``job_id``
    A job ID unique to the test.
``gutenberg_dir``
    The public-domain books in ``../shared/data/gutenberg``, or a skip saying where to put
    them.

Nothing outlives the session: the nodes close themselves, and a sweep at session end
kills any process this session started that is still alive (found by a marker variable in
its environment) and removes any container owned by this process or by those processes.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import hypothesis
import pytest
import redis

from engine.nodes.base import RedisNode
from faults.profiles import register as register_profiles
from faults.sweep import sweep_containers, sweep_processes

pytest_plugins = ["faults.pytest_backend", "faults.pytest_engine", "faults.pytest_summary"]

# --- Hypothesis profiles -----------------------------------------------------------------
# Chosen by $HYPOTHESIS_PROFILE or --hypothesis-profile; defined in faults/profiles.py,
# where benchmarks/teeth.py finds the same settings.
register_profiles()
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# --- settings ----------------------------------------------------------------------------

SESSION_ENV = "WORDCOUNT_TEST_SESSION"
"""Set in each pytest process that runs tests, inherited by all it starts (for the sweep)."""
CONTAINER_OWNER_LABEL = "org.wordcount.owner"
"""The label engine.nodes.container puts on its containers: ``host:pid`` of the owner."""

REPO_ROOT = Path(__file__).resolve().parent
GUTENBERG_DIR = REPO_ROOT.parent / "shared" / "data" / "gutenberg"

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds; deselect with -m 'not slow'")
    if not _is_xdist_controller(config):
        os.environ[SESSION_ENV] = f"{os.getpid()}-{secrets.token_hex(4)}"


def _is_xdist_controller(config: pytest.Config) -> bool:
    """The xdist process that only hands tests to workers (it must not mark or sweep)."""
    if hasattr(config, "workerinput"):
        return False
    return bool(getattr(config.option, "numprocesses", None))


# --- nodes -------------------------------------------------------------------------------


class NodeFactory(Protocol):
    """The type of the ``redis_node_factory`` fixture."""

    def __call__(
        self, backend: str | None = None, *, start: bool = True, **node_kwargs: Any
    ) -> RedisNode: ...


_open_nodes: list[RedisNode] = []
"""Nodes the fixtures made in this process and have not closed yet (for the sweep)."""


def _new_node(backend: str, node_kwargs: dict[str, Any]) -> RedisNode:
    from engine.nodes.factory import make_node

    node = make_node(backend, **node_kwargs)  # type: ignore[arg-type]
    _open_nodes.append(node)
    return node


def _close(node: RedisNode) -> BaseException | None:
    """Close a node; the error, if any, is returned rather than raised."""
    try:
        node.close()
    except Exception as exc:
        return exc
    finally:
        with contextlib.suppress(ValueError):
            _open_nodes.remove(node)
    return None


@pytest.fixture
def redis_node_factory(redis_backend: str) -> Iterator[NodeFactory]:
    """Makes fresh nodes (started unless ``start=False``); closes them all at teardown."""
    from faults.pytest_backend import concrete_backend  # a plugin: loaded by pytest first

    made: list[RedisNode] = []

    def factory(backend: str | None = None, *, start: bool = True, **node_kwargs: Any) -> RedisNode:
        node = _new_node(
            redis_backend if backend is None else concrete_backend(backend), node_kwargs
        )
        made.append(node)  # before start(): a node that fails to start is still closed
        if start:
            node.start()
        return node

    yield factory
    errors = [error for node in reversed(made) if (error := _close(node)) is not None]
    if errors:
        raise RuntimeError(f"closing {len(errors)} Redis node(s) failed: {errors!r}")


@pytest.fixture(scope="session")
def redis_node(request: pytest.FixtureRequest) -> Iterator[RedisNode]:
    """The Redis node of this xdist worker (of the whole run without xdist)."""
    from faults.pytest_backend import concrete_backend, requested_backend

    node = _new_node(concrete_backend(requested_backend(request.config)), {})
    try:
        node.start()
    except BaseException:
        _close(node)
        raise
    yield node
    error = _close(node)
    if error is not None:
        raise error


def _revive(node: RedisNode) -> None:
    """A test that brought the shared node down must not fail every test after it."""
    if not node.is_running():
        warnings.warn(f"the shared Redis node {node!r} was down: restarting it", stacklevel=3)
        node.restart()


@pytest.fixture
def redis_url(redis_node: RedisNode) -> str:
    _revive(redis_node)
    return redis_node.url


@pytest.fixture
def redis_client(redis_node: RedisNode) -> Iterator[redis.Redis]:
    """A plain client of the shared node: no retries, bytes in and out."""
    _revive(redis_node)
    client = redis_node.client(socket_timeout=10)
    yield client
    client.close()


_NOT_IN_JOB_ID = re.compile(r"[^A-Za-z0-9._-]+")


@pytest.fixture
def job_id(request: pytest.FixtureRequest) -> str:
    """A job ID unique to this test (and valid for engine.keys.check_job_id)."""
    name = _NOT_IN_JOB_ID.sub("-", request.node.name).strip("-")[:60]
    return f"t-{name}-{secrets.token_hex(4)}"


# --- data --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gutenberg_dir() -> Path:
    """The Gutenberg books, or a skip that says where they were looked for."""
    if not any(GUTENBERG_DIR.glob("*.txt")):
        pytest.skip(
            f"no Gutenberg books in {GUTENBERG_DIR} (../shared/data/gutenberg from the "
            "repository root): put the .txt files there to run this test"
        )
    return GUTENBERG_DIR


# --- leaving nothing behind --------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the nodes still open, then remove whatever this process's tests left running."""
    if _is_xdist_controller(session.config):
        return
    for node in list(reversed(_open_nodes)):
        _close(node)
    from faults import warm, zygote

    warm.POOL.close_all()  # the runner's warm Redis nodes and driver fork server are
    zygote.stop()  # this process's own, not leftovers: closed before the sweep
    killed = sweep_processes(SESSION_ENV)
    removed = sweep_containers({pid for pid, _ in killed}, CONTAINER_OWNER_LABEL)
    leaks = [f"killed {name} (pid {pid})" for pid, name in killed] + removed
    if leaks:
        sys.stderr.write(f"\nconftest: cleaned up what the tests left: {'; '.join(leaks)}\n")
