"""The two basic crashes, each timed to land mid-job, on every Redis backend available.

* A worker killed with SIGKILL between counting a task and committing it: its tasks stay
  pending, another worker steals them after the claim timeout, the driver starts a new
  worker in its place, and the counts are still exact.
* Redis killed with SIGKILL and started again from what its persistence kept (a snapshot
  every 200 ms, or an AOF synced every second) while tasks are being committed: commits
  after the last save are lost, counts and acknowledgements together, and are redone.

The worker is stopped at a precise point by a crash-point hook (engine.crashpoints) that
this module provides to the worker processes through the environment.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import connection, crashpoints
from engine.driver import RunOptions, RunResult, run
from engine.inputs import expand_inputs
from engine.job import read_job
from engine.keys import GROUP, JobKeys
from engine.nodes.base import Persistence, RedisNode
from engine.serial import count_tasks
from engine.tokenize import Tokenizer
from engine.worker import BatchLimits, Worker

TESTS_DIR = Path(__file__).resolve().parent
STALL_FILE_ENV = "WORDCOUNT_TEST_STALL_FILE"
BACKENDS = [
    pytest.param("process", id="process"),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]
JOB_TIMEOUT_S = 90


# --- the hook, run inside worker processes ------------------------------------------------


def stall_first_count() -> crashpoints.Hook:
    """Crash-point hook factory: the first worker to count a task writes its PID and hangs.

    Only one worker in the job hangs (the file is created exclusively), so the others, and
    the ones started in its place, carry on.
    """
    path = os.environ[STALL_FILE_ENV]

    def hook(name: str, context: dict[str, Any]) -> None:
        if name != crashpoints.WORKER_AFTER_COUNT:
            return
        try:
            os.close(os.open(path + ".lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # another worker stalled already
        with open(path + ".tmp", "w") as handle:
            handle.write(f"{os.getpid()} {context['consumer']}")
        os.rename(path + ".tmp", path)  # the test sees the file only once it is complete
        time.sleep(300)  # until the test kills this process

    return hook


# --- helpers ----------------------------------------------------------------------------


class Background:
    """driver.run in a thread, its result or exception kept for the test."""

    def __init__(self, options: RunOptions) -> None:
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(options,), daemon=True)
        self.thread.start()

    def _run(self, options: RunOptions) -> None:
        try:
            self.result = run(options)
        except BaseException as exc:
            self.error = exc

    def join(self, timeout_s: float = JOB_TIMEOUT_S) -> RunResult:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"the job did not finish within {timeout_s} s"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _split_books(books: Path, into: Path, parts: int) -> list[Path]:
    """Cut each book into ``parts`` files at line breaks: more, smaller tasks."""
    into.mkdir()
    paths = []
    for book in sorted(books.glob("*.txt")):
        lines = book.read_bytes().splitlines(keepends=True)
        step = -(-len(lines) // parts)
        for i in range(parts):
            path = into / f"{book.stem}-{i}.txt"
            path.write_bytes(b"".join(lines[i * step : (i + 1) * step]))
            paths.append(path)
    return paths


def _assert_exact(result: RunResult, expected: Counter[str], n_tasks: int) -> None:
    assert result.info.state == "done", result.info
    assert (result.info.tasks_done, result.info.tasks_failed) == (n_tasks, 0)
    assert result.counts == expected


@pytest.fixture(scope="module")
def books_serial(gutenberg_dir: Path) -> Counter[str]:
    return count_tasks(expand_inputs([str(gutenberg_dir)]), Tokenizer())


# --- a worker killed ---------------------------------------------------------------------


@pytest.mark.parametrize("redis_backend", BACKENDS, indirect=True)
def test_worker_killed_mid_task(
    redis_node_factory: Callable[..., RedisNode],
    gutenberg_dir: Path,
    books_serial: Counter[str],
    tmp_path: Path,
    job_id: str,
) -> None:
    node = redis_node_factory()
    stall_file = tmp_path / "stalled"
    env = {
        crashpoints.HOOK_ENV: f"{Path(__file__).stem}:{stall_first_count.__name__}",
        STALL_FILE_ENV: str(stall_file),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    job = Background(
        RunOptions(
            paths=[str(gutenberg_dir)],
            workers=2,
            redis_url=node.url,
            job_id=job_id,
            claim_timeout_ms=500,
            read_all=True,
            progress=False,
            worker_env=env,
        )
    )
    _wait_for(stall_file.exists, 60, "a worker to stall after counting")
    pid_text, consumer = stall_file.read_text().split()
    client = node.client()
    keys = JobKeys(job_id)
    info = read_job(client, keys)
    assert info is not None and not info.finished, "the kill must land while tasks remain"
    stalled_pending = client.xpending_range(keys.tasks, GROUP, "-", "+", 100, consumername=consumer)
    assert stalled_pending, "the stalled worker holds at least the task it counted"
    os.kill(int(pid_text), signal.SIGKILL)

    result = job.join()
    _assert_exact(result, books_serial, len(list(gutenberg_dir.glob("*.txt"))))
    # Its tasks were stolen: the dead consumer holds nothing, and someone else acked them.
    assert not client.xpending_range(keys.tasks, GROUP, "-", "+", 100, consumername=consumer)
    stolen = {row["message_id"] for row in stalled_pending}
    assert stolen <= client.smembers(keys.done)
    client.close()


# --- Redis killed ------------------------------------------------------------------------


@pytest.fixture
def slow_commits() -> Iterator[None]:
    """Stretch each commit a little (in this process), so a kill surely lands mid-job."""

    def hook(name: str, context: dict[str, Any]) -> None:
        if name == crashpoints.WORKER_AFTER_COMMIT:
            time.sleep(0.03)

    crashpoints.install(hook)
    yield
    crashpoints.install(None)


@pytest.mark.parametrize("redis_backend", BACKENDS, indirect=True)
@pytest.mark.parametrize(
    "persistence",
    [Persistence("snapshot", 200), Persistence("aof-everysec")],
    ids=["snapshot-200ms", "aof-everysec"],
)
@pytest.mark.usefixtures("slow_commits")
def test_redis_killed_and_restarted_mid_job(
    redis_node_factory: Callable[..., RedisNode],
    gutenberg_dir: Path,
    tmp_path: Path,
    job_id: str,
    persistence: Persistence,
) -> None:
    node = redis_node_factory(persistence=persistence)
    paths = _split_books(gutenberg_dir, tmp_path / "parts", 4)
    expected = count_tasks(expand_inputs([str(tmp_path / "parts")]), Tokenizer())
    # The driver bootstraps and waits; the workers are threads of this process, committing
    # one task at a time, so that there are many commits for the crash to fall between.
    job = Background(
        RunOptions(
            paths=[str(tmp_path / "parts")],
            workers=0,
            redis_url=node.url,
            job_id=job_id,
            claim_timeout_ms=500,
            read_all=True,
            progress=False,
        )
    )
    errors: list[BaseException] = []
    workers = [
        threading.Thread(target=_work, args=(node.url, job_id, errors), daemon=True)
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()

    client = node.client(socket_timeout=5)
    keys = JobKeys(job_id)

    def third_done() -> bool:
        info = read_job(client, keys)
        return info is not None and info.tasks_done >= len(paths) // 3

    _wait_for(third_done, 60, "a third of the tasks to be committed")
    info = read_job(client, keys)
    assert info is not None and info.state == "ready" and info.tasks_done < len(paths)
    client.close()
    node.kill()
    time.sleep(0.3)
    node.restart()

    result = job.join()
    for worker in workers:
        worker.join(JOB_TIMEOUT_S)
        assert not worker.is_alive()
    assert not errors, errors
    _assert_exact(result, expected, len(paths))


def _work(url: str, job_id: str, errors: list[BaseException]) -> None:
    """One worker committing one task at a time (in a thread: same code as the processes)."""
    client = connection.connect(url)
    try:
        Worker(client, job_id, deadline_s=60, limits=BatchLimits(max_tasks=1)).run()
    except BaseException as exc:
        errors.append(exc)
    finally:
        client.close()
