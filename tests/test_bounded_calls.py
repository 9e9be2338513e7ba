"""No Redis Function call does unbounded work, BUSY is a transient refusal, and no
earlier attempt's staged leftovers can spoil a commit (issue 11, bugs 2 and 5).

Bug 2: a batch of 1.6 million distinct words was merged in one commit call that ran past
Redis's busy threshold (5 s); Redis answered BUSY, which was not retried: exit 1, result
lost. Bug 5: staging went to ``stage:<first entry>`` and the commit checked only the
hash's length, so a batch ``[a]`` retried after a refused ``[a, b]`` met the leftovers of
``b`` there, was refused as ``stage-incomplete`` every time, and ``a`` was dead-lettered.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.exceptions as rex

from engine import connection
from engine import crashpoints as cp
from engine import worker as worker_module
from engine.count import Tally
from engine.driver import RunOptions, run
from engine.inputs import expand_inputs
from engine.job import JobSettings, bootstrap
from engine.keys import GROUP, JobKeys
from engine.nodes.base import RedisNode
from engine.results import read_counts
from engine.serial import count_tasks
from engine.session import WorkerSession, pack_pairs
from engine.tasks import Task
from engine.tokenize import Tokenizer
from engine.worker import Batch, Worker

SCRIPT_S = 3.0
"""How long the test script keeps Redis busy (past a busy threshold set to 100 ms)."""
BUSY_SCRIPT = """
local start = redis.call('TIME')
while true do
  local now = redis.call('TIME')
  if (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > tonumber(ARGV[1]) then
    return 1
  end
end
"""


def test_busy_is_retried_until_redis_answers(
    redis_node_factory: Callable[..., RedisNode],
) -> None:
    node = redis_node_factory()
    client = node.client(socket_timeout=30)
    client.config_set("busy-reply-threshold", 100)
    busy = threading.Thread(
        target=lambda: node.client(socket_timeout=30).eval(BUSY_SCRIPT, 0, int(SCRIPT_S * 1e6))
    )
    busy.start()
    try:
        while True:  # until Redis says BUSY (the script runs for seconds)
            try:
                client.ping()
            except rex.ResponseError as exc:
                assert connection.is_busy(exc), exc
                break
            assert busy.is_alive(), "the script ended before Redis ever answered BUSY"
        assert connection.call(client, client.ping, deadline_s=60)
    finally:
        busy.join()


def _write_words(path: Path, n: int, prefix: str) -> None:
    path.write_text(" ".join(f"{prefix}{i}" for i in range(n)) + "\n")


def test_a_large_batch_is_committed_in_bounded_calls(
    tmp_path: Path, redis_client: redis.Redis, job_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every function call of a batch 16 times the part size does at most a few parts'
    work: measured in Redis's own slow log, the longest call is a small share of them
    all (the old engine merged the whole batch in its one commit call)."""
    part, words = 2_500, 40_000
    monkeypatch.setattr(worker_module, "MAX_PAIRS_PER_CALL", part)
    _write_words(tmp_path / "many.txt", words, "w")
    tasks = expand_inputs([str(tmp_path)])
    keys = JobKeys(job_id)
    bootstrap(redis_client, keys, JobSettings(), tasks)
    redis_client.config_set("slowlog-log-slower-than", 0)
    redis_client.config_set("slowlog-max-len", 100_000)
    try:
        redis_client.slowlog_reset()
        Worker(redis_client, job_id).run()
        log = redis_client.slowlog_get(100_000)
    finally:
        redis_client.config_set("slowlog-log-slower-than", 10_000)
        redis_client.config_set("slowlog-max-len", 128)
    calls = [e["duration"] for e in log if _command(e).upper().startswith("FCALL")]
    assert read_counts(redis_client, keys) == count_tasks(tasks, Tokenizer())
    assert len(calls) >= words // part, "the batch was not split into parts"
    assert max(calls) <= sum(calls) / 4, f"one call did {max(calls) / sum(calls):.0%} of the work"


def _command(entry: dict[str, Any]) -> str:
    command = entry["command"]
    return command.decode("latin-1") if isinstance(command, bytes) else str(command)


def test_leftovers_of_an_earlier_attempt_do_not_spoil_a_commit(
    tmp_path: Path, redis_client: redis.Redis, job_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch [a, b] is staged, then a thief takes b and commits it first: the batch is
    refused, and a alone is staged and committed again, which must go through."""
    monkeypatch.setattr(worker_module, "MAX_PAIRS_PER_CALL", 2)  # stage every batch
    worker, tasks, entries = rob_second_then_commit(Worker, tmp_path, redis_client, job_id)
    keys = JobKeys(job_id)
    done = {e.decode() for e in redis_client.smembers(keys.done)}
    assert done == set(entries), f"acknowledged: {sorted(done)}"
    assert read_counts(redis_client, keys) == Counter(count_tasks(tasks, Tokenizer()))
    assert worker.stats.dead_lettered == 0
    assert not list(redis_client.scan_iter(keys.stage_pattern)), "staging left behind"


def rob_second_then_commit(
    worker_class: type[Worker], tmp_path: Path, client: redis.Redis, job_id: str
) -> tuple[Worker, list[Task], list[str]]:
    """Count tasks a and b into one batch, and commit it while a thief commits b first.
    Returns the worker, the tasks and the two entry IDs."""
    _write_words(tmp_path / "a.txt", 5, "a")
    _write_words(tmp_path / "b.txt", 5, "b")
    tasks = expand_inputs([str(tmp_path)])
    keys = JobKeys(job_id)
    bootstrap(client, keys, JobSettings(), tasks)
    worker = worker_class(client, job_id)
    worker.settings = JobSettings()
    batch = Batch(Tally(Tokenizer()))
    for _ in tasks:
        delivery = worker._next(None)
        assert delivery is not None
        worker.count_into(batch, delivery)
    second = batch.deliveries[1]
    thief = WorkerSession(client, keys, consumer="thief", deadline_s=5)
    robbed = []

    def rob(point: str, context: dict[str, Any]) -> None:
        if point == cp.WORKER_BEFORE_COMMIT and not robbed:
            robbed.append(second.entry_id)
            client.xclaim(keys.tasks, GROUP, "thief", 0, [second.entry_id])
            counts = count_tasks([second.task], Tokenizer())
            pairs = pack_pairs([(w.encode(), n) for w, n in counts.items()])
            assert thief.commit([second.entry_id], pairs, second.task.size).accepted

    cp.install(rob)
    try:
        worker._commit_batch(batch)
    finally:
        cp.install(None)
    assert robbed, "the thief never ran"
    return worker, tasks, batch.entry_ids


def test_a_finished_job_keeps_no_stale_staging(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, job_id: str
) -> None:
    """A worker that died between staging and committing leaves its staging hash; the
    driver deletes such leftovers once the job has finished."""
    (tmp_path / "in.txt").write_text("a b c\n")
    keys = JobKeys(job_id)
    leftover = keys.stage("1-0:dead-worker:0123abcd")
    redis_client.hset(leftover, "1", pack_pairs([(b"a", 1)]))
    run(RunOptions(paths=[str(tmp_path)], workers=1, redis_url=redis_url, job_id=job_id,
                   progress=False))  # fmt: skip
    assert not list(redis_client.scan_iter(keys.stage_pattern))
