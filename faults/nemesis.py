"""The nemesis: counts crash-point arrivals, decides which faults fire, and hurts Redis.

Every arrival reported by an engine process comes here (through the controller). The
nemesis first records what the arrival says about the task's life (delivered, claimed,
commit invoked, commit accepted or refused), then counts it against each fault's trigger
under one lock, so the k-th arrival is well defined however many workers race. A fault
whose count reaches its ``nth`` fires once: its kind's handler (:mod:`faults.kinds`) runs
right here, while the reporting process still waits for its answer; a Redis kind's is
recorded in the history, a process kind's answer is returned for the agent to act on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

from engine import crashpoints as cp
from engine.errors import NodeError
from engine.keys import JobKeys
from faults import history as h
from faults.agent import QUIT_POINT
from faults.db import DB, NEMESIS
from faults.errors import RunnerError
from faults.history import History
from faults.hogs import Hogs, cores
from faults.kinds import NETWORK, Kind
from faults.netkinds import EngineLinks
from faults.netproxy import LinkMode
from faults.robbed import RobbedStop, stop_until_robbed
from faults.scenario import COMMIT, Fault, Scenario, Trigger

ALWAYS_REPORTED = cp.ALL
"""Points every run reports: the task life events the history needs, and the coverage the
suite's summary gives (which crash points some scenario reached). One local round trip per
task and point is noise next to reading and counting the task."""
_LIFE = {
    cp.WORKER_AFTER_READ: h.DELIVER,
    cp.WORKER_AFTER_CLAIM: h.CLAIM,
    cp.WORKER_AFTER_COUNT: h.COUNT,
    cp.DRIVER_BOOTSTRAP: h.BOOTSTRAP,
    cp.DRIVER_BEFORE_RESULT: h.RESULT,
}


@dataclasses.dataclass(frozen=True)
class FiredFault:
    """A fault that fired: which (``index`` into the scenario's faults), where, on whom,
    and when its effect began and ended (seconds since the run started)."""

    index: int
    fault: Fault
    process: str
    point: str
    context: dict[str, Any]
    time: float
    end: float

    @property
    def kind(self) -> Kind:
        """The fired fault's entry in the fault-kind table."""
        return self.fault.action.spec

    def to_data(self) -> dict[str, Any]:
        """JSON-ready: the fault in its compact form, and its kind by name."""
        data = dataclasses.asdict(self)
        data.update(fault=str(self.fault), kind=self.kind.name)
        return data


def process_name(role: str, pid: int) -> str:
    return f"{role}-{pid}"


def matches(trigger: Trigger, point: str, context: dict[str, Any]) -> bool:
    """Whether an arrival at ``point`` counts toward ``trigger``."""
    if trigger.point == COMMIT:
        if point != cp.WORKER_AFTER_COMMIT or not context.get("accepted"):
            return False
    elif trigger.point != point:
        return False
    if trigger.task is None:
        return True
    indexes = context.get("indexes") or [context.get("index")]
    return trigger.task in indexes


def _held(context: dict[str, Any]) -> int:
    """How many tasks the arriving process holds there (its batch, or its one task)."""
    return len(context.get("entries") or ([context["entry"]] if context.get("entry") else []))


class Nemesis:
    """Fault decisions and Redis harm for one run."""

    def __init__(self, scenario: Scenario, db: DB, history: History, keys: JobKeys) -> None:
        self.faults: tuple[Fault, ...] = scenario.faults
        self.db = db
        self.history = history
        self.keys = keys
        self.fired: list[FiredFault] = []
        self.errors: list[str] = []
        self.hung: set[int] = set()
        """PIDs told to hang: the runner kills them once the job is over."""
        self.faulted: set[int] = set()
        """PIDs told to crash or raise: a driver among them is restarted, not a failure."""
        self.stopped: dict[int, threading.Timer | RobbedStop | None] = {}
        self.hogs: list[tuple[Hogs, threading.Timer]] = []
        """PIDs stopped by SIGSTOP from outside, with the timer that continues them."""
        self.links = EngineLinks()
        """The proxy between the engine and Redis, when a network kind may fire."""
        self.pids: set[int] = set()
        self.reached: Counter[str] = Counter()
        """Arrivals per crash point, for coverage: a point no scenario reaches tests nothing."""
        self._arrivals = [0] * len(self.faults)
        self._open_commits: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._redis_lock = threading.Lock()
        self._quiet = False
        self.arrival: dict[str, Any] = {}
        """The context of the arrival whose process fault is being carried out."""
        self.observers: dict[str, Callable[[], None]] = {}
        """Called at an arrival at their point, before its faults fire, while the process
        waits (the runner reads an embedded Redis's final state so)."""

    def points(self) -> list[str]:
        """The crash points engine processes must report."""
        wanted = set(ALWAYS_REPORTED)
        for fault in self.faults:
            wanted.add(
                cp.WORKER_AFTER_COMMIT if fault.trigger.point == COMMIT else fault.trigger.point
            )
        return sorted(wanted)

    def arrive(self, point: str, context: dict[str, Any], pid: int, role: str) -> dict[str, Any]:
        """Handle one arrival; returns the agent's answer (after any Redis action)."""
        process = process_name(role, pid)
        with self._lock:
            self.pids.add(pid)
            self.reached[point] += 1
            self._record(point, context, process)
            due = [] if self._quiet else self._count(point, context)
            fired_at = self.history.now()
            for i in due:
                self.history.add(
                    "info",
                    NEMESIS,
                    h.FAULT,
                    {"fault": str(self.faults[i]), "process": process, "point": point},
                )
        if point in self.observers:
            self.observers[point]()
        reply: dict[str, Any] = {"do": "continue"}
        for i in due:
            fault = self.faults[i]
            spec = fault.action.spec
            if fault.action.on_redis:
                self._harm_redis(fault)
            elif reply["do"] == "continue":
                self.arrival = dict(context)
                reply = spec.handler(self, pid, fault.action.ms)
            end = self.history.now() + spec.effect_s(fault.action.ms)
            self.fired.append(FiredFault(i, fault, process, point, dict(context), fired_at, end))
        return reply

    def _count(self, point: str, context: dict[str, Any]) -> list[int]:
        due = []
        for i, fault in enumerate(self.faults):
            if matches(fault.trigger, point, context) and (
                _held(context) >= fault.action.spec.min_held
            ):
                self._arrivals[i] += 1
                if self._arrivals[i] == fault.trigger.nth:
                    due.append(i)
        return due

    def _record(self, point: str, context: dict[str, Any], process: str) -> None:
        """Turn an arrival into task-life operations of the history."""
        if point == cp.WORKER_BEFORE_COMMIT:
            value = {k: context.get(k) for k in ("consumer", "entries", "indexes")}
            self._open_commits[process] = value
            self.history.add("invoke", process, h.COMMIT, value)
        elif point == cp.WORKER_AFTER_COMMIT:
            self._open_commits.pop(process, None)
            value = {k: context.get(k) for k in ("consumer", "entries", "indexes", "reason")}
            self.history.add("ok" if context.get("accepted") else "fail", process, h.COMMIT, value)
        elif point in _LIFE:
            self.history.add("ok", process, _LIFE[point], dict(context))
        elif point == QUIT_POINT:
            self.history.add("ok", process, h.QUIT, {})

    def stop_process(self, pid: int, ms: int) -> None:
        """SIGSTOP ``pid`` from outside (every thread of it stops), and SIGCONT it after
        ``ms``; with 0 it stays stopped, as a hung process, until the run kills it."""
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError as exc:
            self.errors.append(f"SIGSTOP of {pid} failed: {exc}")
            return
        timer = None
        if ms:
            timer = threading.Timer(ms / 1000, _continue, (pid,))
            timer.daemon = True
            timer.start()
        else:
            self.hung.add(pid)
        self.stopped[pid] = timer

    def stop_until_robbed(self, pid: int, ms: int) -> None:
        """SIGSTOP ``pid`` until another worker steals a task it holds (those of the
        arrival that fired the fault), and SIGCONT it ``ms`` later (faults/robbed.py)."""
        try:
            stop = stop_until_robbed(pid, ms, self.db.read, self.keys, self.arrival)
        except OSError as exc:
            self.errors.append(f"SIGSTOP of {pid} failed: {exc}")
            return
        if stop is not None:
            self.stopped[pid] = stop

    def load_machine(self, ms: int) -> None:
        """Start one CPU hog per core for ``ms`` (the ``cpu-hog`` kind)."""
        hogs = Hogs(cores())
        hogs.start()
        timer = threading.Timer(ms / 1000, hogs.stop)
        timer.daemon = True
        timer.start()
        self.hogs.append((hogs, timer))

    def engine_url(self, url: str, where: Callable[[], tuple[str, int]]) -> str:
        """The Redis URL the engine gets: through the run's proxy if a network fault may
        fire (``where`` says where Redis is now), else ``url`` itself."""
        if not any(f.action.spec.target == NETWORK for f in self.faults):
            return url
        try:
            return self.links.route(url, where)
        except OSError as exc:
            raise RunnerError(f"cannot start the proxy for network faults: {exc}") from exc

    def cut_links(self, pid: int, ms: int, mode: str) -> None:
        """Black-hole ``pid``'s links to Redis for ``ms`` (or lose the replies on them),
        or reset them (``drop``)."""
        self._net(lambda: self.links.cut(pid, ms, _LINK_MODES.get(mode, "blackhole")))

    def slow_links(self, pid: int, ms: int) -> None:
        """Slow ``pid``'s links to Redis for ``ms`` (:func:`faults.netkinds.EngineLinks.slow`)."""
        self._net(lambda: self.links.slow(pid, ms))

    def _net(self, action: Callable[[], dict[str, Any]]) -> None:
        """Carry out a network action, recording what it did (or the nemesis' failure)."""
        try:
            done = action()
        except (RuntimeError, OSError, TimeoutError) as exc:
            self.errors.append(f"network fault failed: {type(exc).__name__}: {exc}")
            return
        self.history.add("info", NEMESIS, "net-" + str(done.get("mode", "slow")), done)

    def release_all(self) -> None:
        """SIGCONT every process still stopped, stop every hog and close the proxy: a
        run's end must leave nothing frozen, spinning or cut off."""
        for pid, timer in list(self.stopped.items()):
            if timer is not None:
                timer.cancel()
            _continue(pid)
        self.stopped.clear()
        for hogs, timer in self.hogs:
            timer.cancel()
            hogs.stop()
        self.hogs.clear()
        self.links.close()

    def _harm_redis(self, fault: Fault) -> None:
        """Carry out a Redis action, one at a time, recording invoke and completion."""
        action = fault.action
        with self._redis_lock:
            self.history.add("invoke", NEMESIS, action.kind, {"ms": action.ms, "fault": str(fault)})
            try:
                value = action.spec.handler(self, 0, action.ms)
            except (NodeError, redis.RedisError, OSError) as exc:
                message = f"{fault} failed: {type(exc).__name__}: {exc}"
                self.errors.append(message)
                self.history.add("fail", NEMESIS, action.kind, {"error": message})
                return
            self.history.add("ok", NEMESIS, action.kind, value)

    def exited(self, pid: int, role: str) -> None:
        """An engine process closed its connection: it ended (crashed, raised or finished).

        A commit it had invoked without reporting the result may or may not have happened:
        Jepsen's ``info``.
        """
        process = process_name(role, pid)
        with self._lock:
            open_commit = self._open_commits.pop(process, None)
            if open_commit is not None:
                self.history.add("info", process, h.COMMIT, open_commit)
            self.history.add("info", process, h.EXIT, {"pid": pid})

    def quiesce(self) -> None:
        """Fire no more faults, and wait for a Redis action in progress to finish."""
        with self._lock:
            self._quiet = True
        with self._redis_lock:
            pass


_LINK_MODES: dict[str, LinkMode] = {"drop": "drop", "lose-replies": "lose-replies"}


def _continue(pid: int) -> None:
    with contextlib.suppress(OSError):  # already gone
        os.kill(pid, signal.SIGCONT)
