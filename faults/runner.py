"""Running one scenario end to end: ``run_scenario(scenario, node) -> Outcome``.

The runner writes the dataset to a temp dir, starts Redis (unless given a node), the
controller and the sampler, then runs the driver subprocess, starting it again with the
same ``--job`` after a fault crashed it, until the driver exits cleanly, gives up, the job
stalls past its liveness bound (see ``_Run._stalled``), or the scenario's timeout passes.
It then reads the job's final state from Redis and returns it with the history. It prints
nothing and judges nothing: that is the checker's job.

Every exit path, a KeyboardInterrupt included, kills the driver's process group and any
process that reported to this run's controller, stops the threads, closes the node if the
run made it, and removes the temp dir.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis

from engine import crashpoints as cp
from engine.errors import JobFailedError, NodeError, WordCountError
from engine.keys import JobKeys
from engine.nodes.base import Persistence, RedisNode
from engine.output import read_counts_file
from engine.plugins import load_engine
from faults import history as h
from faults import warm
from faults.client import DriverProcess, driver_argv, driver_env, kill_ours, log_tail
from faults.controller import Controller
from faults.dataset import write
from faults.db import DB, NEMESIS, FinalState, make_node
from faults.embedded_db import EmbeddedDB
from faults.errors import EngineSpecError, RunnerError
from faults.group_db import group_db
from faults.history import History, OpType
from faults.ledger import LEDGER
from faults.loadgauge import LoadGauge, scaled
from faults.nemesis import Nemesis
from faults.outcome import DriverRun, Outcome
from faults.sampler import Sampler
from faults.scenario import Scenario

RUNNER = "runner"
POLL_S = 0.02
FINAL_WAIT_S = 20.0
"""Embedded mode: how long the final read waits for the driver's Redis to answer again."""


def backend_of(node: RedisNode) -> str:
    return {"ProcessNode": "process", "ContainerNode": "docker", "DriverRedis": "embedded",
            "ReplicatedGroup": "process"}.get(
        type(node).__name__, type(node).__name__
    )


def check_engine(spec: str | None) -> None:
    """Load ``spec`` here first: a typo must be a usage error, not a failed scenario whose
    every worker died on start-up (which would read as an engine bug)."""
    if spec is None:
        return
    try:
        load_engine(spec)
    except WordCountError as exc:
        raise EngineSpecError(str(exc)) from None


def run_scenario(
    scenario: Scenario,
    node: RedisNode | str = "process",
    *,
    engine: str | None = None,
    timeout_s: float | None = None,
) -> Outcome:
    """Run ``scenario`` on ``node``: a backend name (a node is made with the scenario's
    persistence and closed at the end) or a node of yours with that persistence (started
    if needed, left running). ``engine`` is passed to the driver as ``--engine``."""
    check_engine(engine)
    history = History()
    persistence = scenario.settings.persistence_spec()
    if scenario.settings.embedded:  # the driver starts its own Redis: no node of ours
        db: DB = EmbeddedDB(persistence, history)
    elif scenario.settings.replicas:  # a primary, replicas and Sentinels of ours
        db = group_db(scenario, node, history)
    elif isinstance(node, str):
        db = _db_of(node, persistence, history)
    elif node.persistence != persistence:
        raise RunnerError(
            f"the node's persistence is {node.persistence}, the scenario's {persistence}: "
            f"make the node with persistence=Persistence.parse({str(persistence)!r})"
        )
    else:
        db = DB(node, history, owned=False)
    db.busy_ms = scenario.settings.busy_ms
    run = _Run(scenario, db, history, engine, timeout_s or scenario.timeout_s)
    try:
        run.execute()
    finally:
        run.cleanup()
        LEDGER.add(run.outcome)
    return run.outcome


def _db_of(backend: str, persistence: Persistence, history: History) -> DB:
    """The run's Redis: a warm node emptied after the last run (:mod:`faults.warm`), or a
    new one; either way the pool takes it back at teardown (or closes it if it cannot)."""
    if not warm.enabled():
        return DB(make_node(backend, persistence), history, owned=True)
    node = warm.POOL.take(backend, persistence)
    if node is None:
        node = make_node(backend, persistence)
        return DB(node, history, owned=True, pool=warm.POOL, backend=backend)
    return DB(node, history, owned=True, pool=warm.POOL, backend=backend, warm=True)


class _Run:
    """The state of one run, so that cleanup can find everything that was started."""

    def __init__(
        self, scenario: Scenario, db: DB, history: History, engine: str | None, timeout_s: float
    ) -> None:
        self.scenario = scenario
        self.db = db
        self.history = history
        self.engine = engine
        self.timeout_s = timeout_s
        self.keys = JobKeys(f"fx-{scenario.name[:40]}-{secrets.token_hex(4)}")
        self.tmp = Path(tempfile.mkdtemp(prefix="faults-"))
        self.socket_path = str(self.tmp / "ctl.sock")
        self.log_path = self.tmp / "engine.log"
        self.result_path = self.tmp / "result.json"
        self.nemesis = Nemesis(scenario, db, history, self.keys)
        self.controller = Controller(self.socket_path, self.nemesis)
        self.sampler = Sampler(db, self.keys, history)
        self.gauge = LoadGauge()
        self.drivers: list[DriverProcess] = []
        self.outcome = Outcome(scenario, backend_of(db.node), self.keys.job_id, history)
        self.outcome.marker = self.socket_path
        self.embedded = isinstance(db, EmbeddedDB)
        self.final: FinalState | None = None
        """Embedded mode: the final state, read when the driver reached
        ``driver.before_result`` (its Redis goes when it exits)."""
        if self.embedded:
            self.nemesis.observers[cp.DRIVER_BEFORE_RESULT] = self._read_final

    def execute(self) -> None:
        data_dir = write(self.scenario.dataset, self.tmp / "data")
        self.db.setup()
        self.controller.start()
        self.sampler.start()
        self.outcome.setup_s = self.history.now()
        argv = driver_argv(self.scenario, str(data_dir), self.keys.job_id, engine=self.engine,
                           output=str(self.result_path))  # fmt: skip
        url = None if self.embedded else self._engine_url()
        env = driver_env(
            url, self.socket_path, self.nemesis.points(),
            self.scenario.settings.bootstrap_batch,
        )  # fmt: skip
        self._drive(argv, env)
        self.nemesis.quiesce()
        self._finish()

    def _engine_url(self) -> str:
        """The URL the engine gets: through the network faults' proxy when one may fire."""
        node = self.db.node
        return self.nemesis.engine_url(self.db.url, lambda: (node.host, node.port))

    def _start_driver(self, argv: list[str], env: dict[str, str]) -> DriverProcess:
        driver = DriverProcess(argv, env, self.log_path)
        driver.start()
        if isinstance(self.db, EmbeddedDB):
            self.db.node.attach(driver.pid)
        self.drivers.append(driver)
        self.history.add("invoke", RUNNER, h.DRIVER, {"pid": driver.pid, "run": len(self.drivers)})
        self.outcome.drivers.append(DriverRun(driver.pid, self.history.now(), None, None))
        return driver

    def _sessions(self) -> list[int]:
        """The sessions this run's processes live in: one per driver, which leads it."""
        return [run.pid for run in self.outcome.drivers]

    def _drive(self, argv: list[str], env: dict[str, str]) -> None:
        """Run the driver until it exits cleanly, fails on its own, or time runs out."""
        driver = self._start_driver(argv, env)
        restarts_left = 1 + sum(f.trigger.on_driver for f in self.scenario.faults)
        while True:
            code = driver.poll()
            self.gauge.sample()
            self.outcome.load_factor = factor = self.gauge.factor
            if code is None:
                if self._stalled(factor):
                    driver.kill_group()
                    return
                if time.monotonic() > self.history.start + self.timeout_s * factor:
                    self.outcome.error = (
                        f"timeout: the job did not finish within {self.timeout_s * factor:.0f} s"
                        f" (timeout_s={self.timeout_s:g}{scaled(factor)}; raise timeout_s if "
                        "the machine is slow)"
                    )
                    self.history.add("info", RUNNER, "timeout", {"after_s": self.timeout_s})
                    driver.kill_group()
                    return
                self._release_stragglers()
                driver.wait(POLL_S)  # returns at once when the driver exits
                continue
            clean = self._clean_exit(driver, code)
            self._ended(driver, code, clean)
            if clean:
                return
            if driver.pid in self.nemesis.faulted and restarts_left > 0:
                restarts_left -= 1
                driver = self._start_driver(argv, env)
                continue
            self.outcome.driver_failure = (
                f"the driver exited with status {code}: {log_tail(self.log_path, 5)}"
            )
            return

    def _stalled(self, factor: float) -> bool:
        """Stop a job that missed its liveness bound and can no longer make it.

        The checker would judge it late anyway (it must finish within ``liveness_s`` of
        the last fault), so waiting for the whole ``timeout_s`` only slows the suite down,
        and a bug that leaves a task to nobody is a liveness failure, not an unknown. The
        run goes on while a fault may still fire and the job still moves: a late fault
        restarts the clock, as it does in the checker.
        """
        if self.sampler.finished_at is not None:
            return False
        now, liveness = self.history.now(), self.scenario.liveness_s * factor
        ends = [f.end for f in self.nemesis.fired]
        first = self.outcome.drivers[0].started if self.outcome.drivers else 0.0
        quiet = max(ends) if ends else first
        if now - quiet <= liveness:
            return False
        idle = now - self.sampler.moved_at
        if len(self.nemesis.fired) < len(self.scenario.faults) and idle <= liveness:
            return False
        self.outcome.stalled = (
            f"the job had not finished {now - quiet:.1f} s after the last fault "
            f"(liveness_s={self.scenario.liveness_s:g}{scaled(factor)}) and had not changed "
            f"for {idle:.1f} s"
        )
        self.history.add("info", RUNNER, "stalled", {"after_s": round(now, 3)})
        return True

    def _clean_exit(self, driver: DriverProcess, code: int) -> bool:
        """Exit 0, or the engine's "finished, but some inputs failed" with a failed job."""
        if code == 0:
            return True
        if code != JobFailedError.exit_code or driver.pid in self.nemesis.faulted:
            return False
        if self.embedded:  # its Redis went with it: what it held at the end
            job = self.final.job if self.final else None
            return (job or {}).get("state") == "failed"
        try:
            state = self.db.read(lambda c: c.hget(self.keys.job, "state"))
        except (redis.RedisError, OSError):
            return False
        return state == b"failed"

    def _read_final(self) -> None:
        """Embedded mode: read the final state while the driver, its job finished, waits
        at ``driver.before_result`` (a later arrival, after Redis lost the job, reads again)."""
        give_up = time.monotonic() + FINAL_WAIT_S * self.gauge.factor
        while True:
            try:
                self.final = self.db.final_state(self.keys)
                return
            except (redis.RedisError, OSError) as exc:
                # A kill that fired just before this arrival may still be under way: the
                # driver's watch restarts its Redis, and the driver waits here meanwhile.
                if time.monotonic() > give_up:
                    self.history.add("info", RUNNER, "final-unread", {"error": str(exc)[:200]})
                    return
                time.sleep(0.1)

    def _ended(self, driver: DriverProcess, code: int, clean: bool) -> None:
        driver.kill_group()  # workers of a crashed driver would otherwise run on
        kind: OpType = "ok" if clean else "info" if driver.pid in self.nemesis.faulted else "fail"
        self.history.add(kind, RUNNER, h.DRIVER, {"pid": driver.pid, "exit": code})
        run = self.outcome.drivers[-1]
        self.outcome.drivers[-1] = DriverRun(run.pid, run.started, self.history.now(), code)
        if clean and self.outcome.finished_at is None:
            self.outcome.finished_at = self.sampler.finished_at or self.history.now()

    def _release_stragglers(self) -> None:
        """Once the job is over, kill hung workers: nobody else will, but the driver would
        wait for them before it exits."""
        if self.sampler.finished_at is not None and self.nemesis.hung:
            for pid in kill_ours(self.nemesis.hung, self.socket_path, self._sessions()):
                self.history.add("info", NEMESIS, "kill-straggler", {"pid": pid})
            self.nemesis.hung.clear()

    def _finish(self) -> None:
        """Read what Redis holds for the job once no engine process is left."""
        self.sampler.stop()
        kill_ours(self.nemesis.pids, self.socket_path, self._sessions())
        out = self.outcome
        if self.sampler.finished_at is not None:
            out.finished_at = min(out.finished_at or self.sampler.finished_at,
                                  self.sampler.finished_at)  # fmt: skip
        out.samples = list(self.sampler.samples)
        out.fired = list(self.nemesis.fired)
        out.reached = Counter(self.nemesis.reached)
        out.log_tail = log_tail(self.log_path, 40)
        out.delivered = _delivered(self.result_path)
        if self.nemesis.errors and out.error is None:
            out.error = "the nemesis failed: " + "; ".join(self.nemesis.errors)
        try:
            final = self._final_state()
        except (redis.RedisError, OSError, NodeError) as exc:  # NodeError: a group unsettled
            out.error = out.error or f"cannot read the final state from Redis: {exc}"
            return
        if final is None:  # embedded, and the driver never saw its job finish
            if not (out.stalled or out.driver_failure):
                out.error = out.error or "the driver exited without reaching its result"
            return
        out.final = final
        for dead in final.dead:
            self.history.add("info", RUNNER, h.DEAD_LETTER, {"entry": dead.entry,
                             "index": dead.index, "error": dead.error})  # fmt: skip
        self.history.add("ok", RUNNER, h.FINAL, {
            "done": sorted(final.done), "state": (final.job or {}).get("state"),
            "words": len(final.counts),
        })  # fmt: skip

    def _final_state(self) -> FinalState | None:
        return self.final if self.embedded else self.db.final_state(self.keys)

    def cleanup(self) -> None:
        """Leave nothing behind, whatever happened; each step runs even if one fails."""
        steps: list[Callable[[], object]] = [
            *(d.kill_group for d in self.drivers),
            lambda: kill_ours(self.nemesis.pids, self.socket_path, self._sessions()),
            self.nemesis.release_all,
            self.sampler.stop,
            self.controller.stop,
            self.db.teardown,
            lambda: shutil.rmtree(self.tmp, ignore_errors=True),
        ]
        for step in steps:
            try:
                step()
            except Exception as exc:
                self.outcome.problems.append(f"cleanup: {type(exc).__name__}: {exc}")
        self.outcome.fired = list(self.nemesis.fired)
        self.outcome.duration_s = self.history.now()
        self.outcome.problems += self.controller.failures


def _delivered(path: Path) -> dict[str, int] | None:
    """The counts the driver delivered (its ``--output``), if it wrote them."""
    try:
        return read_counts_file(path) if path.exists() else None
    except (OSError, ValueError):
        return None
