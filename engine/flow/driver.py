"""The driver of a dataflow job: validate, partition the input, bootstrap, supervise the
workers, wait, and read the result.

It holds nothing Redis does not also hold: stage transitions happen inside the commit of
each stage's last task, so a driver that crashes anywhere, between stages included, is
started again with the same ``--job`` and finds the job where it is. If Redis loses the
job, the driver bootstraps it again from the input it still has.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from engine import connection
from engine import crashpoints as cp
from engine.driver import new_job_id
from engine.flow import points
from engine.flow.codec import Pair, pack, unpack
from engine.flow.inputs import read_pairs, sorted_pairs
from engine.flow.plan import plan_stages, split
from engine.flow.program import Program, load_program
from engine.flow.store import FlowJob, FlowStore
from engine.nodes.base import Persistence, RedisNode
from engine.supervisor import WorkerPool

log = logging.getLogger("wordcount.flow.driver")
POLL_S = 0.02


@dataclasses.dataclass
class FlowOptions:
    program_path: str
    input_path: str | None = None
    workers: int = 2
    redis_url: str | None = None
    job_id: str | None = None
    claim_timeout_ms: int = 10_000
    max_respawns: int | None = None
    persistence: Persistence = dataclasses.field(default_factory=Persistence)


@dataclasses.dataclass
class FlowResult:
    job_id: str
    pairs: list[Pair]
    stages: int


def input_of(program: Program, program_path: str, override: str | None) -> Path:
    """``--input``, else the program's ``input`` relative to the program file's folder."""
    if override:
        return Path(override)
    if program.input is None:
        from engine.flow.program import ProgramError

        raise ProgramError(f"{program_path}: $.input: missing; name a CSV file or pass --input")
    return Path(program_path).resolve().parent / program.input


def run_flow(options: FlowOptions) -> FlowResult:
    program = load_program(options.program_path)
    pairs = read_pairs(input_of(program, options.program_path, options.input_path))
    job_id = options.job_id or new_job_id()
    node: RedisNode | None = None
    try:
        if options.redis_url is None:
            from engine.nodes.factory import embedded_node

            node = embedded_node(persistence=options.persistence)
            node.start()
        url = options.redis_url or node.url  # type: ignore[union-attr]
        client = connection.connect(url)
        connection.check(client)
        return _Drive(FlowStore(client, job_id), url, program, pairs, options, node).run()
    finally:
        if node is not None:
            node.close()


class _Drive:
    def __init__(
        self,
        store: FlowStore,
        url: str,
        program: Program,
        pairs: list[Pair],
        options: FlowOptions,
        node: RedisNode | None,
    ) -> None:
        self.store = store
        self.program = program
        self.n_stages = len(plan_stages(program))
        self.blobs = [pack(part) for part in split(pairs, program.partitions)]
        self.options = options
        self.node = node
        self.pool = WorkerPool(
            url, store.keys.job_id, options.workers, max_respawns=options.max_respawns
        )

    def bootstrap(self) -> FlowJob:
        cp.reach(points.DRIVER_BOOTSTRAP, job=self.store.keys.job_id)
        o = self.options
        while True:  # Redis may lose the job again between the bootstrap and the read
            self.store.bootstrap(
                self.program.to_json(), self.n_stages, self.blobs, o.claim_timeout_ms
            )
            job = self.store.job()
            if job is not None:
                return job
            log.warning("job %s vanished right after its bootstrap; again", self.store.keys.job_id)

    def run(self) -> FlowResult:
        job = self.bootstrap()
        try:
            while True:
                if not job.finished:
                    if not self.pool.procs:
                        self.pool.start()
                    job = self._wait(job)
                cp.reach(points.DRIVER_BEFORE_RESULT, job=self.store.keys.job_id)
                pairs = self._result()
                if pairs is not None:
                    return FlowResult(self.store.keys.job_id, sorted_pairs(pairs), self.n_stages)
                log.warning("Redis lost part of the finished job before its result was read")
                job = self.bootstrap()
        finally:
            self.pool.stop()

    def _wait(self, job: FlowJob) -> FlowJob:
        """Poll until the job is done, keeping workers (and an embedded Redis) alive."""
        stage = job.stage
        while True:
            if self.node is not None and not self.node.is_running():
                log.warning("the embedded Redis died; restarting it")
                self.node.restart()
            current = self.store.job()
            if current is None:
                log.warning(
                    "job %s is gone from Redis; bootstrapping again", self.store.keys.job_id
                )
                current = self.bootstrap()
            if current.finished:
                return current
            if current.stage != stage:
                stage = current.stage
                cp.reach(points.DRIVER_BETWEEN_STAGES, job=self.store.keys.job_id, stage=stage)
            self.pool.check()
            if self.pool.alive() == 0:
                self.pool.replace_exited()
            time.sleep(POLL_S)

    def _result(self) -> list[Pair] | None:
        """The output, or ``None`` if Redis restarted meanwhile and lost the finished job
        (a restart always changes the server's run_id)."""
        before = self.store.run_id()
        job = self.store.job()
        blobs = self.store.result()
        if job is None or not job.finished or len(blobs) != self.program.partitions:
            return None
        if self.store.run_id() != before:
            return None
        pairs: list[Pair] = []
        for partition in sorted(blobs):
            pairs += unpack(blobs[partition])
        return pairs
