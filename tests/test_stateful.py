"""A model of the commit protocol, checked step by step against a real Redis.

Hypothesis chooses the interleaving: inputs are submitted while workers read, steal,
commit, commit again, crash, and while Redis is killed with SIGKILL and restarted from its
append-only file, and while Redis is frozen mid-commit; a restarted driver re-adds tasks
at any moment. A plain Python model says who holds each task and which tasks are
acknowledged; after every step the sorted set must equal the sum of the serial counts of
exactly the acknowledged tasks (the commit is atomic as seen from outside), and every
commit must be accepted exactly when the model says the task is still the committer's.
"""

from __future__ import annotations

import tempfile
import threading
from collections import Counter
from pathlib import Path

import hypothesis.strategies as st
import msgpack
import pytest
import redis
from hypothesis import settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from engine.count import Tally
from engine.functions import Library
from engine.job import JobSettings, _add, _flatten, read_job
from engine.keys import GROUP, JobKeys
from engine.nodes.base import Persistence, RedisNode
from engine.serial import count_task
from engine.session import Delivery, WorkerSession, pack_pairs
from engine.tasks import Task
from engine.tokenize import Tokenizer, decode

TOKENIZER = Tokenizer()
TEXTS = st.text(alphabet=st.sampled_from("ab c\n\t\u3000é"), max_size=30)


class CommitProtocol(RuleBasedStateMachine):
    """Workers are in-process sessions, so every step is one deterministic Redis call."""

    workers = Bundle("workers")

    def __init__(self, node: RedisNode, workdir: Path) -> None:
        super().__init__()
        self.node = node
        self.client: redis.Redis = node.client(socket_timeout=5)
        self.client.flushall()
        self.keys = JobKeys("stateful")
        self.workdir = workdir
        self.tasks: list[Task] = []
        self.owner: dict[str, str] = {}  # entry -> consumer, for delivered, unacked entries
        self.acked: set[str] = set()
        self.held: dict[str, list[Delivery]] = {}
        self.sealed = False
        self.started = 0
        self.settings = JobSettings(TOKENIZER)
        self._add([])  # creates the job and its group

    # -- helpers ---------------------------------------------------------------------

    def _session(self, name: str) -> WorkerSession:
        return WorkerSession(self.client, self.keys, consumer=name, deadline_s=10)

    def _add(self, tasks: list[Task]) -> None:
        packed = msgpack.packb(
            [[t.index, *_flatten(t.to_fields())] for t in tasks], use_bin_type=False
        )
        _add(self.client, Library(self.client), self.keys, self.settings, packed)

    def _expected(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for entry in self.acked:
            total.update(count_task(self.tasks[int(entry.split("-")[0]) - 1], TOKENIZER))
        return total

    # -- rules -----------------------------------------------------------------------

    @precondition(lambda self: not self.sealed and len(self.tasks) < 8)
    @rule(text=TEXTS)
    def submit(self, text: str) -> None:
        path = self.workdir / f"in-{len(self.tasks)}.txt"
        path.write_text(text, encoding="utf-8")
        task = Task(len(self.tasks), str(path), size=path.stat().st_size)
        self.tasks.append(task)
        self._add([task])

    @precondition(lambda self: not self.sealed)
    @rule()
    def seal(self) -> None:
        nbytes = sum(t.size for t in self.tasks)
        Library(self.client).fcall(
            "wc_mark_ready", [self.keys.tasks, self.keys.job], [len(self.tasks), nbytes]
        )
        self.sealed = True

    @rule(target=workers)
    def start_worker(self) -> str:
        self.started += 1
        name = f"w{self.started}"
        self.held[name] = []
        return name

    @rule(worker=workers)
    def read(self, worker: str) -> None:
        delivery = self._session(worker).read_new(None)
        undelivered = [t.entry_id for t in self.tasks if t.entry_id not in self.owner]
        undelivered = [e for e in undelivered if e not in self.acked]
        assert (delivery is None) == (not undelivered)
        if delivery is not None:
            assert delivery.entry_id == undelivered[0]
            self.owner[delivery.entry_id] = worker
            self.held[worker].append(delivery)

    @rule(worker=workers)
    def steal(self, worker: str) -> None:
        """XAUTOCLAIM with no idle bound: the worker robs whoever holds the oldest task."""
        delivery = self._session(worker).claim_stale(0)
        pending = sorted(self.owner, key=lambda e: int(e.split("-")[0]))
        assert (delivery is None) == (not pending)
        if delivery is not None:
            assert delivery.entry_id == pending[0]
            self.owner[delivery.entry_id] = worker
            self.held[worker].append(delivery)

    @precondition(lambda self: any(self.held.values()))
    @rule(worker=workers, duplicate=st.booleans())
    def commit(self, worker: str, duplicate: bool) -> None:
        self._commit(worker, duplicate)

    @precondition(lambda self: any(self.held.values()))
    @rule(worker=workers)
    def commit_while_redis_is_paused(self, worker: str) -> None:
        """The commit is sent to a frozen server (SIGSTOP) and must apply once it thaws."""
        thaw = threading.Timer(0.1, self.node.resume)
        self.node.pause()
        thaw.start()
        try:
            self._commit(worker, duplicate=False)
        finally:
            thaw.join()

    def _commit(self, worker: str, duplicate: bool) -> None:
        if not self.held[worker]:
            return
        delivery = self.held[worker].pop(0)
        tally = Tally(TOKENIZER)
        tally.add(Path(delivery.task.path).read_bytes())
        packed = pack_pairs(tally.items())
        session = self._session(worker)
        expected = self.owner.get(delivery.entry_id) == worker
        result = session.commit([delivery.entry_id], packed, delivery.task.size)
        assert result.accepted == expected, (delivery.entry_id, result, self.owner)
        if result.accepted:
            del self.owner[delivery.entry_id]
            self.acked.add(delivery.entry_id)
        if duplicate:  # a retry after a lost reply, or a replayed message
            again = session.commit([delivery.entry_id], packed, delivery.task.size)
            assert not again.accepted

    @precondition(lambda self: bool(self.tasks))
    @rule(data=st.data())
    def bootstrap_again(self, data: st.DataObject) -> None:
        """A restarted driver re-adds a prefix of the tasks: nothing may be added twice."""
        upto = data.draw(st.integers(1, len(self.tasks)), label="re-added tasks")
        before = self.client.xlen(self.keys.tasks)
        self._add(self.tasks[:upto])
        assert self.client.xlen(self.keys.tasks) == before

    @rule(worker=consumes(workers))
    def crash(self, worker: str) -> None:
        """The worker vanishes; what it held stays pending to it in Redis."""
        self.held.pop(worker, None)

    @rule()
    def kill_and_restart_redis(self) -> None:
        self.node.kill()
        self.node.restart()
        self.client = self.node.client(socket_timeout=5)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def counts_equal_acknowledged_tasks(self) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrange(self.keys.counts, 0, -1, withscores=True)
        pipe.smembers(self.keys.done)
        rows, done = pipe.execute()
        counts = Counter({decode(word): int(score) for word, score in rows})
        assert {e.decode() for e in done} == self.acked
        assert counts == self._expected()

    @invariant()
    def finished_exactly_when_all_acknowledged(self) -> None:
        info = read_job(self.client, self.keys)
        assert info is not None
        all_acked = self.sealed and len(self.acked) == len(self.tasks)
        assert (info.state == "done") == all_acked, (info.state, all_acked)
        pending = self.client.xpending(self.keys.tasks, GROUP)["pending"]
        assert pending == len(self.owner)


@pytest.mark.slow
def test_commit_protocol_against_a_model(redis_node_factory: object) -> None:
    node = redis_node_factory(persistence=Persistence("aof-always"))  # type: ignore[operator]
    with tempfile.TemporaryDirectory() as workdir:
        run_state_machine_as_test(
            lambda: CommitProtocol(node, Path(workdir)),
            settings=settings(),  # the profile's, see conftest.py
        )
