"""A pytest plugin: which Redis servers the suite tests on (``--redis-backend``).

The kind of server is chosen, from the most to the least specific, by:

1. an explicit argument: ``redis_node_factory(backend="docker")``, or a test parametrized
   indirectly over the ``redis_backend`` fixture::

       @pytest.mark.parametrize(
           "redis_backend",
           ["process", pytest.param("docker", marks=pytest.mark.docker)],
           indirect=True,
       )

2. the command-line option ``--redis-backend process|docker|auto``, then the environment
   variable ``WORDCOUNT_TEST_BACKEND``, then the ini value ``redis_backend`` (pyproject.toml
   sets ``auto``), by the one rule of :mod:`faults.pytest_options`;
3. ``auto``: containers when the Docker engine answers and a Redis image resolves, else
   local ``redis-server`` processes.

With ``--redis-backend process`` (or ``docker``) the cases parametrized for the other
backend are deselected; with ``auto`` both run, and docker ones skip, saying why, where
Docker is unusable. A docker backend asked for explicitly that cannot work stops the run
with the fix in the message; it never silently turns into skips.
"""

from __future__ import annotations

import pytest

from faults.pytest_options import Setting, pick

BACKEND_OPTION = "--redis-backend"
BACKEND_ENV = "WORDCOUNT_TEST_BACKEND"
BACKEND_INI = "redis_backend"
BACKEND_CHOICES = ("process", "docker", "auto")
SETTING = Setting(BACKEND_OPTION, BACKEND_ENV, BACKEND_INI)

ONLY_BACKEND_OPTION = "--backend-tests-only"
ONCE = "once"
"""Marks tests of the suite's power (buggy variants caught, teeth): what they prove does
not depend on the backend, and on containers they cost a third of CI's docker pass."""
BACKEND_FIXTURES = frozenset({"redis_backend", "redis_node"})
"""A test that needs one of these (directly or through another fixture) runs on the
selected backend; the others do not depend on it."""

FIX_DOCKER = (
    "build the Redis image with `bash docker/build-redis-image.sh` (or set "
    "WORDCOUNT_REDIS_IMAGE to a local image with redis-server 7), and make sure the Docker "
    "engine is running (`docker info` answers); or test on processes with "
    "--redis-backend process"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wordcount", "redis-wordcount test suite")
    group.addoption(
        BACKEND_OPTION,
        choices=BACKEND_CHOICES,
        default=None,
        help=f"Redis servers to test on: local processes, containers, or auto (containers "
        f"when Docker works). Default: ${BACKEND_ENV}, else the '{BACKEND_INI}' ini value, "
        "else auto.",
    )
    group.addoption(
        ONLY_BACKEND_OPTION,
        action="store_true",
        help="run only the tests that use the Redis backend (its fixtures or parameter): "
        "for a second backend's run, after a first one ran everything",
    )
    parser.addini(
        BACKEND_INI,
        f"Redis backend (process, docker or auto) when neither {BACKEND_OPTION} nor "
        f"${BACKEND_ENV} is given",
        default="auto",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "docker: runs Redis in containers (needs the Docker engine and the image)"
    )
    config.addinivalue_line(
        "markers", f"{ONCE}: proves the suite catches buggy engines; a second backend's run "
        f"({ONLY_BACKEND_OPTION}) leaves it out",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, with the fix, if the docker backend is asked for and cannot work."""
    config = session.config
    if hasattr(config, "workerinput") or requested_backend(config) != "docker":
        return
    usable, why = docker_status()
    if not usable:
        raise pytest.UsageError(
            f"the docker Redis backend was asked for but cannot be used ({why}): {FIX_DOCKER}"
        )


def requested_backend(config: pytest.Config) -> str:
    """The backend asked for by option, environment or ini value (possibly ``auto``)."""
    return pick(config, SETTING, "auto", BACKEND_CHOICES) or "auto"


_docker_status: tuple[bool, str] | None = None


def docker_status() -> tuple[bool, str]:
    """Whether containers can run here, and if not why (found out once per process)."""
    global _docker_status
    if _docker_status is None:
        try:
            from engine.nodes.container import docker_available, resolve_image

            if not docker_available():
                _docker_status = (False, "the Docker engine or the docker packages are missing")
            else:
                resolve_image()
                _docker_status = (True, "")
        except Exception as exc:  # report anything (a missing image...), never crash
            _docker_status = (False, str(exc))
    return _docker_status


def concrete_backend(requested: str) -> str:
    """``process`` or ``docker`` for a requested backend; fails the test if docker can't run."""
    if requested not in BACKEND_CHOICES:
        raise ValueError(f"unknown Redis backend {requested!r}: use one of {BACKEND_CHOICES}")
    if requested == "process":
        return "process"
    usable, why = docker_status()
    if requested == "docker" and not usable:
        pytest.fail(
            f"the docker Redis backend was asked for but cannot be used ({why}): {FIX_DOCKER}",
            pytrace=False,
        )
    return "docker" if usable else "process"


def pytest_report_header(config: pytest.Config) -> str:
    requested = requested_backend(config)
    if requested != "auto":
        return f"redis backend: {requested}"
    usable, why = docker_status()
    return "redis backend: auto -> " + ("docker" if usable else f"process ({why})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the cases of the backend not selected (and, with
    :data:`ONLY_BACKEND_OPTION`, those that use no backend or are marked :data:`ONCE`);
    skip docker ones that cannot run."""
    requested = requested_backend(config)
    only_backend = bool(config.getoption(ONLY_BACKEND_OPTION))
    keep, dropped = [], []
    for item in items:
        backend = _param_backend(item)
        if requested != "auto" and backend is not None and backend != requested:
            dropped.append(item)
            continue
        if only_backend and (
            (backend is None and not _uses_backend(item)) or item.get_closest_marker(ONCE)
        ):
            dropped.append(item)
            continue
        keep.append(item)
        if requested == "auto" and item.get_closest_marker("docker") is not None:
            usable, why = docker_status()
            if not usable:
                item.add_marker(pytest.mark.skip(reason=f"Docker unusable ({why}): {FIX_DOCKER}"))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _uses_backend(item: pytest.Item) -> bool:
    return not BACKEND_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def _param_backend(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("redis_backend") if callspec is not None else None
    return value if isinstance(value, str) else None


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> str:
    """``process`` or ``docker``: the indirect parameter if any, else the session's choice."""
    param = getattr(request, "param", None)
    return concrete_backend(param if param is not None else requested_backend(request.config))
