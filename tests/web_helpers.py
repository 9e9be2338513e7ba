"""Shared by the tests of the HTTP side (tests/test_web_*.py): a real server on a free
port against the session's real Redis, and jobs put into each state by the engine's own
functions (bootstrap, read, claim, commit, dead-letter), never by writing the keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import msgpack
import pytest
import redis

from engine.functions import Library
from engine.job import JobSettings, bootstrap
from engine.keys import GROUP, JobKeys
from engine.serial import count_task
from engine.session import WorkerSession, pack_pairs
from engine.tasks import Task
from engine.tokenize import Tokenizer, encode
from engine.web.app import WebConfig
from engine.web.server import WebServer

TOKEN = "test-token-not-secret"
T = TypeVar("T")


@pytest.fixture
def web(redis_url: str) -> Iterator[WebServer]:
    """The server, with writing on, on a free loopback port."""
    server = WebServer(WebConfig(redis_url, token=TOKEN), "127.0.0.1", 0).start()
    yield server
    server.stop()


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 60.0) -> T:
    """Poll until ``probe`` returns something truthy; the timeout only stops a hung test."""
    give_up = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def files(tmp_dir: object, n: int, words_per_file: int = 50) -> list[Task]:
    """``n`` small text files with overlapping words; their tasks as bootstrap makes them."""
    from pathlib import Path

    root = Path(str(tmp_dir))
    tasks = []
    for i in range(n):
        path = root / f"part-{i:02d}.txt"
        text = " ".join(f"w{(i * 7 + j) % 13}" for j in range(words_per_file)) + "\n"
        path.write_text(text)
        tasks.append(Task(i, str(path), size=len(text)))
    return tasks


def session(client: redis.Redis, keys: JobKeys, name: str) -> WorkerSession:
    return WorkerSession(client, keys, consumer=name, deadline_s=10)


def commit_next(worker: WorkerSession) -> str:
    """Read a new task, count it for real, and commit it; its entry ID."""
    delivery = worker.read_new(None)
    assert delivery is not None
    commit(worker, delivery.entry_id, delivery.task)
    return delivery.entry_id


def commit(worker: WorkerSession, entry_id: str, task: Task) -> None:
    counts = count_task(task, Tokenizer())
    packed = pack_pairs([(encode(w), n) for w, n in counts.items()])
    assert worker.commit([entry_id], packed, task.size).accepted


def half_bootstrapped(client: redis.Redis, keys: JobKeys, tasks: list[Task]) -> None:
    """A job whose driver stopped mid-bootstrap: tasks added, never marked ready."""
    packed = msgpack.packb(
        [[t.index, *[x for k, v in t.to_fields().items() for x in (k, v)]] for t in tasks]
    )
    Library(client).fcall(
        "wc_add_tasks", [keys.tasks, keys.job], [GROUP, JobSettings().to_json(), packed]
    )


def make_job(client: redis.Redis, job_id: str, tasks: list[Task]) -> JobKeys:
    keys = JobKeys(job_id)
    bootstrap(client, keys, JobSettings(), tasks)
    return keys
