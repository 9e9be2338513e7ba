"""The fault-kind table: every action the nemesis can take, each described in one place.

A kind says what it hits (:data:`PROCESS`, the engine process at the trigger; :data:`WORKER`,
a worker only; :data:`REDIS`, the node; :data:`MACHINE`, the cores; :data:`NETWORK`, the
links of the process at the trigger to Redis), its duration parameter and the values strategies
draw for it, whether it may lose Redis data, the handler that carries it out, how drawing
treats it, and its name in the summary. The scenario model, the nemesis, the strategies,
the generator, the checker and the ledger all read this table, so adding a kind is one
entry here plus its handler; ``tests/test_faults_kinds.py`` fails if an entry lacks a part.

Handlers run in the test process, inside the nemesis, while the process that reached the
trigger waits for its answer. A process kind's handler returns the answer the agent acts
on (its verb is one of :data:`faults.agent.VERBS`); a Redis kind's handler returns what
the history records for it. This module imports nothing heavy: the agent must stay light,
and the scenario model reads the table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from engine import crashpoints as cp

if TYPE_CHECKING:
    from engine.keys import JobKeys
    from faults.db import DB

PROCESS = "process"
"""The engine process (worker or driver) that reached the trigger; the agent acts in it."""
WORKER = "worker"
"""A worker process only (a trigger at a driver point is refused)."""
REDIS = "redis"
"""The Redis node; the triggering process waits until the action is over."""
MACHINE = "machine"
"""The machine the run shares (its cores); the triggering process goes on at once."""
NETWORK = "network"
"""The links between the process that reached the trigger and Redis, through the run's
proxy (:mod:`faults.netkinds`); the process goes on at once (into the fault)."""
TARGETS = (PROCESS, WORKER, REDIS, MACHINE, NETWORK)

COMMIT = "commit"
"""Pseudo crash point: the n-th *accepted* commit, reached at ``worker.after_commit``."""
WORKER_POINTS = (
    cp.WORKER_AFTER_COUNT, cp.WORKER_AFTER_READ, cp.WORKER_BEFORE_COMMIT, COMMIT,
    cp.WORKER_AFTER_COMMIT, cp.WORKER_AFTER_CLAIM,
)  # fmt: skip
DRIVER_POINTS = (cp.DRIVER_BOOTSTRAP, cp.DRIVER_BEFORE_RESULT)
CRITICAL_POINTS = (cp.WORKER_BEFORE_COMMIT, cp.WORKER_AFTER_COUNT, cp.WORKER_AFTER_READ, COMMIT)
"""Where a worker fault hurts most: a task held but not committed, a commit just made.
Drawn half of the time; any worker point the other half."""
REDIS_CRITICAL_POINTS = (COMMIT, cp.DRIVER_BOOTSTRAP, cp.WORKER_BEFORE_COMMIT)
"""Where losing or freezing Redis hurts most: just after a commit (which a restart may
undo while its worker lives on), mid-bootstrap, and with a commit about to be sent."""

# Domains a fault draws first (as issue 5 lists them), then a kind among the domain's.
WORKER_DOMAIN, REDIS_DOMAIN, DRIVER_DOMAIN = "worker", "redis", "driver"
DOMAINS = (WORKER_DOMAIN, REDIS_DOMAIN, DRIVER_DOMAIN)


class Context(Protocol):
    """What a handler may use: the run's Redis node and job keys, and the nemesis' books
    of which processes were faulted (a driver among them is restarted), hung (killed once
    the job is over) or stopped from outside (continued at the end)."""

    db: DB
    keys: JobKeys
    faulted: set[int]
    hung: set[int]

    def stop_process(self, pid: int, ms: int) -> None: ...

    def stop_until_robbed(self, pid: int, ms: int) -> None: ...

    def load_machine(self, ms: int) -> None: ...

    def cut_links(self, pid: int, ms: int, mode: str) -> None: ...

    def slow_links(self, pid: int, ms: int) -> None: ...


Handler = Callable[[Context, int, int], dict[str, Any]]
"""``handler(context, pid, ms)``: carry out the action on behalf of process ``pid``."""


@dataclasses.dataclass(frozen=True)
class Duration:
    """The ``ms`` parameter: what it means, whether it is required, and the values drawn
    for a claim timeout (short, about one timeout, several: the simplest first)."""

    meaning: str
    required: bool
    drawn: Callable[[int], tuple[int, ...]]
    lasting: bool = False
    """The effect goes on ``ms`` after the answer (the liveness clock starts after it)."""


@dataclasses.dataclass(frozen=True)
class Draw:
    """How strategies draw the kind: in which domains, and whether it forces recovery (a
    dead task holder, a straggler outlasting its claim, Redis data lost: drawn half of the
    time among the domain's kinds)."""

    domains: tuple[str, ...]
    forcing: bool = False
    holds_task: bool = False
    """Leaves a live worker holding its task for good: at most ``workers - 1`` per scenario."""
    embedded_only: bool = False
    """Needs the driver's embedded Redis: drawn only by :mod:`faults.review_draws` in
    embedded mode, never by the generic draws (whose odds it would change)."""
    review_only: bool = False
    """Drawn only by :mod:`faults.review_draws`, where it aims at a bug's region, never by
    the generic draws (whose odds it would change)."""


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    target: str
    duration: Duration | None
    loses_data: bool
    """May lose what Redis holds (a restart without the data): the checker then excuses
    workers that saw the job end before the loss undid it."""
    handler: Handler
    draw: Draw
    summary: str
    """The kind's name in the end-of-run summary."""
    verb: str | None = None
    """The agent's verb that the handler's answer carries (process kinds only)."""
    faulted: bool = False
    """A process it hits ends or raises on purpose: a driver is restarted, not failed."""
    min_held: int = 0
    """An arrival counts toward the trigger's ``nth`` only if the process holds at least
    this many tasks there: a stop until robbed splits a batch between two attempts, and a
    batch of one has nothing to split (under load the second commit was often one)."""
    group: bool = False
    """Acts on a replicated group (``settings.replicas`` > 0, :mod:`faults.group_db`), and
    only there: left out of :func:`names` unless asked for, so the single-node families
    draw exactly what they drew before these kinds existed."""

    def effect_s(self, ms: int) -> float:
        """How long after the answer the effect goes on."""
        return ms / 1000 if self.duration is not None and self.duration.lasting else 0.0


# --- handlers --------------------------------------------------------------------------------


def _answer(verb: str) -> Handler:
    def handler(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
        return {"do": verb, "ms": ms}

    return handler


def _crash(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    from faults.agent import CRASH_EXIT_CODE

    ctx.faulted.add(pid)
    return {"do": "crash", "code": CRASH_EXIT_CODE}


def _raise(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    ctx.faulted.add(pid)
    return {"do": "raise"}


def _hang(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    ctx.hung.add(pid)
    return {"do": "hang"}


def _sigstop(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    ctx.stop_process(pid, ms)
    return {"do": "continue"}


def _sigstop_robbed(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    ctx.stop_until_robbed(pid, ms)
    return {"do": "continue"}


def _cpu_hog(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    ctx.load_machine(ms)
    return {"do": "continue"}


def _net_cut(mode: str) -> Handler:
    def handler(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
        ctx.cut_links(pid, ms, mode)
        return {"do": "continue"}

    return handler


def _net_slow(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    ctx.slow_links(pid, ms)
    return {"do": "continue"}


def _restart(wipe: bool) -> Handler:
    def handler(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
        return ctx.db.kill(ctx.keys, ms, wipe=wipe)

    return handler


def _kill_starting(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    return ctx.db.kill_starting(ctx.keys, ms)


def _restart_empty(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    return ctx.db.restart_empty(ctx.keys)


def _pause(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    return ctx.db.pause(ms)


def _snapshot(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
    return ctx.db.snapshot()


def _on_group(action: str) -> Handler:
    """A replicated group's fault: the DB role of a group carries it out (a single node's
    refuses it, naming the setting that makes a group)."""

    def handler(ctx: Context, pid: int, ms: int) -> dict[str, Any]:
        return ctx.db.group_fault(action, ctx.keys, ms)

    return handler


# --- the table -------------------------------------------------------------------------------

_W, _R, _D = WORKER_DOMAIN, REDIS_DOMAIN, DRIVER_DOMAIN
_DOWNTIME = Duration("downtime before the restart", False, lambda claim: (0, 100, 400))

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("crash", PROCESS, None, False, _crash, Draw((_W, _D), forcing=True),
         "crash", verb="crash", faulted=True),
    Kind("raise", PROCESS, None, False, _raise, Draw((_W, _D)), "raise", verb="raise",
         faulted=True),
    Kind("hang", WORKER, None, False, _hang, Draw((_W,), holds_task=True), "hang", verb="hang"),
    Kind("slow", PROCESS, Duration("sleep", True, lambda claim: (50, claim, claim * 3),
                                   lasting=True),
         False, _answer("slow"), Draw((_W,), forcing=True), "slow", verb="slow"),
    Kind("redis-kill", REDIS, _DOWNTIME, True, _restart(wipe=False),
         Draw((_R,), forcing=True), "redis-kill"),
    Kind("redis-kill-starting", REDIS, _DOWNTIME, True, _kill_starting,
         Draw((_R,), forcing=True, embedded_only=True), "redis-kill-starting"),
    Kind("redis-wipe", REDIS, _DOWNTIME, True, _restart(wipe=True),
         Draw((_R,), forcing=True), "redis-wipe"),
    Kind("redis-pause", REDIS, Duration("pause", True, lambda claim: (100, claim, claim * 2)),
         False, _pause, Draw((_R,)), "redis-pause"),
    Kind("redis-snapshot", REDIS, None, False, _snapshot, Draw((_R,)), "redis-snapshot"),
    Kind("redis-restart-empty", REDIS, None, True, _restart_empty, Draw((_R,)),
         "redis-restart-empty"),
    Kind("worker-sigstop", WORKER, Duration(
        "stopped for (0: until the job ends)", False,
        lambda claim: (claim * 2, claim * 4, 0), lasting=True),
         False, _sigstop, Draw((_W,), holds_task=True), "worker-sigstop"),
    Kind("worker-sigstop-robbed", WORKER, Duration(
        "goes on this long after another worker stole a task it holds", False,
        lambda claim: (0, 20, 50)),
         False, _sigstop_robbed, Draw((_W,), review_only=True), "worker-sigstop-robbed",
         min_held=2),
    Kind("cpu-hog", MACHINE, Duration(
        "busy processes, one per core, run for", True,
        lambda claim: (claim * 2, claim * 5, claim * 10), lasting=True),
         False, _cpu_hog, Draw((_W,)), "cpu-hog"),
    Kind("net-drop", NETWORK, None, False, _net_cut("drop"), Draw((_W, _D)), "net-drop"),
    Kind("net-cut", NETWORK, Duration(
        "links black-holed for (then reset)", True,
        lambda claim: (100, claim * 2, claim * 5), lasting=True),
         False, _net_cut("blackhole"), Draw((_W, _D), forcing=True), "net-cut"),
    Kind("net-slow", NETWORK, Duration(
        "links slowed for (each chunk delayed by a tenth of it)", True,
        lambda claim: (claim, claim * 3, claim * 6), lasting=True),
         False, _net_slow, Draw((_W, _D)), "net-slow"),
    Kind("net-lose-replies", NETWORK, Duration(
        "replies lost for (requests still run; then reset)", True,
        lambda claim: (100, claim * 2, claim * 5), lasting=True),
         False, _net_cut("lose-replies"), Draw((_W, _D), forcing=True), "net-lose-replies"),
    # A replicated group's faults (settings.replicas > 0): each one waits, before it
    # answers, until the group has one master again and the nemesis has read what it holds.
    Kind("redis-kill-primary", REDIS, Duration(
        "downtime of the killed primary after its failover, before it rejoins as a replica",
        False, lambda claim: (0, 500, 2000)),
         True, _on_group("kill-primary"), Draw((_R,), forcing=True), "redis-kill-primary",
         group=True),
    Kind("redis-kill-replica", REDIS, Duration(
        "downtime of the killed replica before it rejoins, empty, and resyncs", False,
        lambda claim: (0, 500, 2000)),
         True, _on_group("kill-replica"), Draw((_R,)), "redis-kill-replica", group=True),
    Kind("redis-pause-primary", REDIS, Duration(
        "SIGSTOP of the primary for (past the Sentinels' down-after: failed over)", True,
        lambda claim: (1000, 3500, 5000)),
         True, _on_group("pause-primary"), Draw((_R,)), "redis-pause-primary", group=True),
    Kind("redis-freeze-primary", REDIS, Duration(
        "SIGSTOP of the primary until the Sentinels promote another, then this much longer "
        "(it wakes a stale master, a replica not yet moved still attached)", False,
        lambda claim: (0, 300, 1000)),
         True, _on_group("freeze-primary"), Draw((_R,), forcing=True), "redis-freeze-primary",
         group=True),
    Kind("redis-kill-every", REDIS, Duration(
        "time between three kills of a data node chosen at random (seeded by MS), each "
        "restarted, empty, and the group settled before the wait", True,
        lambda claim: (1000, 2000, 3000)),
         True, _on_group("kill-every"), Draw((_R,)), "redis-kill-every", group=True),
    Kind("net-partition-primary", REDIS, Duration(
        "the primary cut off from its replicas and Sentinels for (split brain), then healed",
        True, lambda claim: (1000, 4000, 6000)),
         True, _on_group("partition-primary"), Draw((_R,), forcing=True),
         "net-partition-primary", group=True),
    Kind("net-slow-group", REDIS, Duration(
        "the engine's links to every data node slowed for (each chunk delayed by a tenth "
        "of it), then healed", True, lambda claim: (100, 500, 2000)),
         False, _on_group("slow-clients"), Draw((_R,)), "net-slow-group", group=True),
)}  # fmt: skip
"""Every action kind, by name, simplest first (shrinking heads to ``crash``)."""


def kind(name: str) -> Kind:
    """The kind called ``name`` (``KeyError`` if none: callers validate first)."""
    return KINDS[name]


def names(target: str | None = None, *, group: bool = False) -> tuple[str, ...]:
    """Kind names, all or those of one target (``PROCESS`` includes the worker-only ones);
    a replicated group's kinds only with ``group`` (then only those)."""
    chosen = {n: k for n, k in KINDS.items() if k.group == group}
    if target is None:
        return tuple(chosen)
    wanted = (PROCESS, WORKER) if target == PROCESS else (target,)
    return tuple(n for n, k in chosen.items() if k.target in wanted)


def in_domain(domain: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds of ``allowed`` drawn in ``domain``, in table order."""
    return tuple(
        n for n, k in KINDS.items()
        if domain in k.draw.domains and n in allowed
        and not (k.draw.embedded_only or k.draw.review_only)
    )  # fmt: skip
