"""Scenarios as plain data: what to count, with which settings, and which faults to inject.

A scenario is everything needed to replay a run: the dataset (explicit bytes, or a seeded
generator and its parameters), the number of workers, the engine settings, and a list of
faults, each a trigger (the k-th arrival at a crash point) and an action. Its JSON form
(:mod:`faults.scenario_json`, the only module that reads or writes it) round-trips
exactly, so a failing case found by a generator can be saved, put under
``tests/scenarios/`` and replayed as is.

Triggers count arrivals *globally*: ``worker.after_count#2`` is the second arrival at that
point by any worker process of the job, whichever it is; ``commit#3`` is the third
accepted commit (one worker batch) of the job. A task filter (``@INDEX``) counts only
arrivals carrying that task, which makes a replay follow the same path even when workers
race for tasks. Counts span driver restarts and respawned workers, so each fault fires at
most once.
"""

from __future__ import annotations

import dataclasses
import re

from engine import crashpoints as cp
from engine.errors import ConfigError
from engine.nodes.base import Persistence
from faults import kinds as k
from faults.errors import ScenarioError
from faults.files import NAME, Dataset, FileSpec, Generated

__all__ = [
    "ACTIONS", "COMMIT", "FAULT_SYNTAX", "GROUP_ACTIONS", "NETWORK_ACTIONS", "ON_A_GROUP",
    "POINTS", "PROCESS_ACTIONS", "PROCESS_ONLY_KINDS", "REDIS_ACTIONS",
    "Action", "Dataset", "Expect", "Fault", "FileSpec", "Generated", "Scenario", "Settings",
    "Trigger",
]  # fmt: skip

COMMIT = k.COMMIT
POINTS = (*cp.ALL, COMMIT)
PROCESS_ACTIONS = k.names(k.PROCESS)
"""Done in or to the process that reached the trigger (see :mod:`faults.kinds`)."""
REDIS_ACTIONS = k.names(k.REDIS)
"""Done by the controller on the Redis node while the triggering process waits."""
NETWORK_ACTIONS = k.names(k.NETWORK)
"""Done to the triggering process's links to Redis (through the run's proxy)."""
ACTIONS = k.names()
"""Every kind a single Redis node takes (what the generic families draw)."""
GROUP_ACTIONS = k.names(group=True)
"""Done by the controller to a replicated group (``settings.replicas`` > 0) only."""
PROCESS_ONLY_KINDS = ("net-partition-primary", "net-slow-group")
"""Group kinds for local processes only: they act on the group's proxies (the split brain
black-holes the primary's peer proxy, the slow links delay the client proxies), which a
Docker group does not have: its nodes reach each other on their own network."""
ON_A_GROUP = (*PROCESS_ACTIONS, *k.names(k.MACHINE), "redis-snapshot", *GROUP_ACTIONS)
"""What a replicated scenario may hold: a single node's Redis kinds would hit the whole
group at once, and the network kinds' proxy speaks to one address, not to Sentinels."""
_FAULT = re.compile(
    r"^(?P<at>[a-z_.]+)(?:@(?P<task>\d+))?(?:#(?P<nth>\d+))?:(?P<do>[a-z-]+)"
    r"(?:=(?P<ms>\d+)(?:ms)?)?$"
)
FAULT_SYNTAX = (
    "POINT[@TASK][#N]:ACTION[=MS], e.g. worker.after_count#2:crash or commit#3:redis-kill"
)


def _fail(message: str) -> None:
    raise ScenarioError(message)


@dataclasses.dataclass(frozen=True)
class Trigger:
    """The ``nth`` arrival at ``point`` (of ``task`` only, if given), counted job-wide."""

    point: str
    nth: int = 1
    task: int | None = None

    def __post_init__(self) -> None:
        if self.point not in POINTS:
            _fail(f"unknown crash point {self.point!r}: use one of {', '.join(POINTS)}")
        if self.nth < 1:
            _fail(f"trigger {self.point}#{self.nth}: N counts arrivals from 1, use #1 or more")
        if self.task is not None and self.task < 0:
            _fail(f"trigger {self.point}@{self.task}: task indexes start at 0")

    @property
    def on_driver(self) -> bool:
        return self.point.startswith("driver.")


@dataclasses.dataclass(frozen=True)
class Action:
    """What happens at the trigger: a kind of :data:`faults.kinds.KINDS` and its duration
    ``ms`` (the sleep of ``slow``, the length of ``redis-pause``, the downtime of
    ``redis-kill``/``redis-wipe``...; each kind says what it means)."""

    kind: str
    ms: int = 0

    def __post_init__(self) -> None:
        spec = k.KINDS.get(self.kind)
        if spec is None:
            _fail(f"unknown action {self.kind!r}: use one of {', '.join(ACTIONS)}")
            return
        if self.ms < 0:
            _fail(f"action {self.kind}={self.ms}: a duration cannot be negative")
        if spec.duration is not None and spec.duration.required and self.ms == 0:
            _fail(f"action {self.kind!r} needs a duration: write {self.kind}=MS, e.g. =500")
        if spec.duration is None and self.ms:
            _fail(f"action {self.kind!r} takes no duration, got ={self.ms}: drop it")

    @property
    def spec(self) -> k.Kind:
        """This action's entry in the fault-kind table."""
        return k.KINDS[self.kind]

    @property
    def on_redis(self) -> bool:
        return self.spec.target == k.REDIS


@dataclasses.dataclass(frozen=True)
class Fault:
    """A trigger and the action it sets off (each fault fires at most once)."""

    trigger: Trigger
    action: Action

    def __post_init__(self) -> None:
        if self.trigger.on_driver and self.action.spec.target == k.WORKER:
            _fail(
                f"{self}: {self.action.kind} hits workers only (a hung driver only ends "
                "in the timeout); use crash to restart it"
            )
        if self.trigger.on_driver and self.trigger.task is not None:
            _fail(f"{self}: driver crash points carry no task, drop @{self.trigger.task}")

    def __str__(self) -> str:
        task = "" if self.trigger.task is None else f"@{self.trigger.task}"
        ms = f"={self.action.ms}" if self.action.ms else ""
        return f"{self.trigger.point}{task}#{self.trigger.nth}:{self.action.kind}{ms}"

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Read the compact form, :data:`FAULT_SYNTAX` (the inverse of ``str``)."""
        match = _FAULT.match(text.strip())
        if match is None:
            raise ScenarioError(f"cannot read fault {text!r}: write {FAULT_SYNTAX}")
        task, nth, ms = match.group("task"), match.group("nth"), match.group("ms")
        return cls(
            Trigger(match.group("at"), int(nth) if nth else 1, int(task) if task else None),
            Action(match.group("do"), int(ms) if ms else 0),
        )


MAX_REPLICAS = 4


@dataclasses.dataclass(frozen=True)
class Settings:
    """Engine settings of the job (``persistence`` also configures the Redis node)."""

    claim_timeout_ms: int = 500
    max_attempts: int = 5
    persistence: str = "none"
    split_on: str = "whitespace"
    lower: bool = False
    csv_column: str | None = None
    bootstrap_batch: int = 500
    chunk_bytes: int = 0
    """``wordcount run --chunk-size``: text files larger than this become byte-range tasks
    (0: one task per file)."""
    embedded: bool = False
    """The driver runs its own embedded Redis (no ``--redis-url``): Redis faults hit the
    redis-server it started, and restarting it is the driver's job (issue 11, bug 3)."""
    busy_ms: int = 0
    """Redis's busy threshold (``busy-reply-threshold``; 0: Redis's default, 5 s). Past it
    Redis answers every other client BUSY while a function runs: a low one shows a call
    whose work is not bounded, at the cost of one batch's vocabulary (issue 11, bug 2)."""
    replicas: int = 0
    """0: one Redis node; N: a replicated group of a primary, N replicas and three
    Sentinels (:mod:`faults.group_db`), which the engine reaches by its Sentinel URL."""
    sync_replicas: int = 0
    """``--sync-replicas``: a commit counts once this many replicas have it (0: no WAIT)."""

    def __post_init__(self) -> None:
        if self.claim_timeout_ms < 1 or self.max_attempts < 1 or self.bootstrap_batch < 1:
            _fail(
                "settings.claim_timeout_ms, max_attempts and bootstrap_batch must be positive, "
                f"got {self.claim_timeout_ms}, {self.max_attempts}, {self.bootstrap_batch}"
            )
        if self.chunk_bytes < 0:
            _fail(f"settings.chunk_bytes = {self.chunk_bytes}: use 0 (no split) or a size in bytes")
        if self.busy_ms < 0 or (self.busy_ms and self.embedded):
            _fail(f"settings.busy_ms = {self.busy_ms}: use 0 (Redis's default) or a threshold "
                  "in ms, and only with an external Redis (embedded: false)")
        if self.split_on not in ("whitespace", "space"):
            _fail(f"settings.split_on = {self.split_on!r}: use 'whitespace' or 'space'")
        self._check_replication()
        self.persistence_spec()

    def _check_replication(self) -> None:
        if not 0 <= self.replicas <= MAX_REPLICAS:
            _fail(f"settings.replicas = {self.replicas}: use 0 (one Redis node) or 1 to "
                  f"{MAX_REPLICAS} (a primary and that many replicas, e.g. 2)")
        if not 0 <= self.sync_replicas <= self.replicas:
            _fail(f"settings.sync_replicas = {self.sync_replicas}: use 0 (no WAIT) up to "
                  f"settings.replicas ({self.replicas}); raise replicas to sync more")
        if self.replicas and (self.embedded or self.busy_ms):
            _fail(f"settings.replicas = {self.replicas} runs a group of ours: drop "
                  "settings.embedded and settings.busy_ms (single-node settings)")

    def persistence_spec(self) -> Persistence:
        try:
            return Persistence.parse(self.persistence)
        except ConfigError as exc:
            raise ScenarioError(f"settings.persistence: {exc}") from None


@dataclasses.dataclass(frozen=True)
class Expect:
    """Which tasks may end in the dead-letter stream: exactly ``dead``, unless
    ``allow_dead`` accepts any (still requiring those in ``dead``)."""

    dead: tuple[int, ...] = ()
    allow_dead: bool = False


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One reproducible run. ``timeout_s`` bounds the whole run; ``liveness_s`` bounds the
    time from the end of the last fault to the end of the job."""

    name: str
    dataset: Dataset
    workers: int = 3
    settings: Settings = dataclasses.field(default_factory=Settings)
    faults: tuple[Fault, ...] = ()
    expect: Expect = dataclasses.field(default_factory=Expect)
    description: str = ""
    timeout_s: float = 60.0
    liveness_s: float = 20.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            _fail(f"scenario name {self.name!r}: use letters, digits, '.', '_', '-'")
        if not 1 <= self.workers <= 32:
            _fail(f"workers = {self.workers}: use 1 to 32")
        if self.timeout_s <= 0 or self.liveness_s <= 0:
            _fail(
                f"timeout_s and liveness_s must be positive, got {self.timeout_s}, "
                f"{self.liveness_s}"
            )
        n_tasks = self.n_tasks()
        chunk = self.settings.chunk_bytes
        for index in (*self.expect.dead, *(f.trigger.task for f in self.faults)):
            if index is not None and index >= n_tasks:
                chunks = f" split at {chunk} bytes" if chunk else ""
                _fail(
                    f"task {index} does not exist: the dataset{chunks} has tasks 0..{n_tasks - 1}"
                )
        for fault in self.faults:
            if fault.action.spec.draw.embedded_only and not self.settings.embedded:
                _fail(f"fault {fault}: {fault.action.kind} kills the driver's own Redis while "
                      "it restarts: set settings.embedded to true, or use redis-kill")
        has_csv = any(n.lower().endswith(".csv") for n in self.dataset.names())
        if has_csv and not self.settings.csv_column:
            _fail("the dataset has .csv files: set settings.csv_column to their text column")
        self._check_group_faults()

    def _check_group_faults(self) -> None:
        """A group's kinds only with a group, and on a group only what makes sense there."""
        replicas = self.settings.replicas
        for fault in self.faults:
            kind = fault.action.kind
            if fault.action.spec.group and not replicas:
                _fail(f"fault {fault}: {kind} needs a replicated group: set "
                      "settings.replicas to 2 (this scenario has a single Redis node)")
            if replicas and kind not in ON_A_GROUP:
                _fail(f"fault {fault}: {kind} acts on a single Redis node, and settings."
                      f"replicas = {replicas} makes a group: use {', '.join(GROUP_ACTIONS)}")

    def task_names(self) -> list[str]:
        """A name for each task of the job, in task order (see :meth:`Dataset.task_names`)."""
        return self.dataset.task_names(self.settings.chunk_bytes)

    def n_tasks(self) -> int:
        """How many tasks the engine makes of the dataset with these settings."""
        if self.settings.chunk_bytes == 0:
            return len(self.dataset.names())
        return len(self.task_names())
