"""What replication costs and what it survives: the labs' last measurements.

- ``replication``: completion time without faults for 0, 1, 2 and 4 replicas, with and
  without ``--sync-replicas`` (f = replicas // 2, at least 1), on small files and on
  large files, as a ratio to a single Redis. It runs the two below first.
- ``replication_faults``: 2 replicas, ``--sync-replicas 1``; no fault, the primary killed
  once, two nodes killed (one back after 2 s), a random node killed and restarted every
  N s for N in 1, 3, 10; each with the number of tasks lost and recomputed (from the
  workers' commit log).
- ``replication_latency``: 1, 5 and 20 ms added to every chunk on the engine's links to
  Redis (the project's TCP proxy), a single Redis against the replicated group.

The group is started before the clock starts (Sentinels take seconds to find each
other), so the times are the job's, as ``wordcount run --redis-url`` sees them.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

from benchmarks.context import Context, Result
from benchmarks.corpus import cut, scratch, stream
from benchmarks.exp_scaling import main_corpus
from benchmarks.nodes import job_args
from benchmarks.report import Plot, Series, Table
from benchmarks.runs import Outcome, failure, run_engine
from engine.commitlog import LOG_ENV
from engine.errors import NodeError
from engine.nodes.base import RedisNode
from engine.nodes.factory import embedded_node
from engine.nodes.replicated import ReplicatedGroup
from engine.supervisor import URL_ENV
from faults import netfaults
from faults import replication_nemesis as nemesis
from faults.netproxy import Proxy
from faults.recompute import check_recomputed, read_commit_log

REPLICAS = (0, 1, 2, 4)
KILL_EVERY_S = (1.0, 3.0, 10.0)
LATENCIES_MS = (1.0, 5.0, 20.0)
KILL_AFTER_S = 0.3
"""When a one-off kill lands after the run starts (small runs last about a second)."""


@contextlib.contextmanager
def _server(replicas: int) -> Iterator[RedisNode]:
    node: RedisNode = ReplicatedGroup(replicas) if replicas else embedded_node()
    try:
        node.start()
        yield node
    finally:
        node.close()


def _corpora(ctx: Context, where: Path) -> dict[str, list[Path]]:
    s = ctx.scale
    out = {}
    for name, size in (("small files", s.small_files), ("large files", s.large_files)):
        count = max(1, min(s.max_files, s.total_bytes // size))
        folder = where / name.replace(" ", "-")
        folder.mkdir()
        out[name] = cut(stream(main_corpus(ctx)), folder, [size] * count)
    return out


def _run(ctx: Context, files: list[Path], url: str, sync: int, *, check: bool = True,
         log_dir: Path | None = None) -> Outcome:  # fmt: skip
    env = {URL_ENV: url, **({LOG_ENV: str(log_dir)} if log_dir else {})}
    extra = [*job_args()[1], "--sync-replicas", str(sync)]
    return run_engine(files, 2, extra=extra, env=env, timeout_s=ctx.scale.timeout_s, check=check)


def replication(ctx: Context) -> Result:
    """Completion time against replicas and --sync-replicas, small and large files."""
    for other in ("replication_faults", "replication_latency"):
        with contextlib.suppress(Exception):  # reported by ctx.get; the table still comes
            ctx.get(other)
    table = Table("replication", ["files", "replicas", "sync_replicas", "seconds",
                                  "vs_single_redis"])  # fmt: skip
    with scratch("replication") as where:
        corpora = _corpora(ctx, where)
        for replicas in _replica_counts(ctx):
            with _server(replicas) as server:
                for name, files in corpora.items():
                    for sync in sorted({0, max(1, replicas // 2)} if replicas else {0}):
                        best = min(_run(ctx, files, server.url, sync)
                                   for _ in range(ctx.scale.repeat))  # fmt: skip
                        base = table.column("seconds", files=name, replicas=0) or [best.seconds]
                        table.add(files=name, replicas=replicas, sync_replicas=sync,
                                  seconds=best.seconds, vs_single_redis=best.seconds / base[0])  # type: ignore[operator]  # fmt: skip
    table.notes.append("sync_replicas = max(1, replicas // 2) (f of 2f+1); the group is up "
                       "before the clock starts")  # fmt: skip
    cats = [f"{r} replicas" for r in _replica_counts(ctx)]
    series = [
        Series(f"{name}, {'sync' if sync else 'async'}", [],
               [_ratio(table, name, r, sync) for r in _replica_counts(ctx)])
        for name in ("small files", "large files") for sync in (0, 1)
    ]  # fmt: skip
    return Result(table, Plot("Replication cost (no faults)", "", "time / single Redis",
                              series, categories=cats))  # fmt: skip


def _ratio(table: Table, files: str, replicas: int, sync: int) -> float:
    rows = [r for r in table.rows if r["files"] == files and r["replicas"] == replicas]
    match = [r for r in rows if bool(r["sync_replicas"]) == bool(sync)] or rows
    return float(match[0]["vs_single_redis"])  # type: ignore[arg-type]


def replication_faults(ctx: Context) -> Result:
    """A replicated job (2 replicas, --sync-replicas 1) with nodes killed."""
    files = main_corpus(ctx)
    table = Table("replication_faults", ["fault", "seconds", "ok", "kills", "recomputed",
                                         "counted_again", "failure"])  # fmt: skip
    faults: list[tuple[str, Callable[[ReplicatedGroup], Callable[[], int]]]] = [
        ("none", lambda g: lambda: 0),
        ("primary killed", lambda g: _later(g, _kill_primary)),
        ("two nodes killed", lambda g: _later(g, _kill_two)),
        *((f"random node every {n:g} s", _every(n)) for n in _kill_every(ctx)),
    ]
    for label, arm in faults:
        with _server(2) as group, tempfile.TemporaryDirectory(prefix="wc-commits-") as logs:
            assert isinstance(group, ReplicatedGroup)
            disarm = arm(group)
            out = _run(ctx, files, group.url, 1, check=False, log_dir=Path(logs))
            kills = disarm()
            report = check_recomputed(read_commit_log(logs))
        table.add(fault=label, seconds=out.seconds, ok=out.ok, kills=kills,
                  recomputed=len(report.recomputed), counted_again=len(report.counted_again),
                  failure=failure(out))  # fmt: skip
    table.notes.append("recomputed: tasks whose acknowledged commit was lost (must be 0 here)")
    return Result(table, Plot("Replicated job under node kills (2 replicas, sync 1)", "",
                              "wall time (s)", [Series("wall time", [], _floats(table))],
                              categories=[str(f) for f in table.column("fault")]))  # fmt: skip


def _replica_counts(ctx: Context) -> tuple[int, ...]:
    """Group sizes measured: all at full scale; at small scale (CI) none and two, the
    default group (each size starts a group and runs both corpora: 30 s of CI apiece)."""
    return REPLICAS if ctx.scale.name == "full" else (0, 2)


def _kill_every(ctx: Context) -> tuple[float, ...]:
    """N of "a random node every N s": all three at full scale; none at small scale (CI),
    where the job lasts under two seconds and no kill every 3 s ever landed (the row said
    0 kills, for a group start of CI time)."""
    return KILL_EVERY_S if ctx.scale.name == "full" else ()


def _floats(table: Table) -> list[float]:
    return [float(v) for v in table.column("seconds")]  # type: ignore[arg-type]


def _kill_primary(group: ReplicatedGroup) -> int:
    nemesis.kill_primary(group)
    return 1


def _kill_two(group: ReplicatedGroup) -> int:
    killed = nemesis.kill_nodes(group, 2, random.Random(1))["killed"]
    threading.Event().wait(2.0)
    nemesis.restart_killed(group, limit=1)
    return len(killed)


def _later(group: ReplicatedGroup, action: Callable[[ReplicatedGroup], int]) -> Callable[[], int]:
    """Run ``action`` once, KILL_AFTER_S into the run; the disarm returns its kill count."""
    done: list[int] = []
    thread = threading.Timer(KILL_AFTER_S, lambda: done.append(action(group)))
    thread.start()

    def disarm() -> int:
        thread.cancel()
        thread.join()
        return done[0] if done else 0

    return disarm


def _every(seconds: float) -> Callable[[ReplicatedGroup], Callable[[], int]]:
    def arm(group: ReplicatedGroup) -> Callable[[], int]:
        killer = nemesis.RandomKiller(group, seconds, random.Random(int(seconds))).start()

        def disarm() -> int:
            with contextlib.suppress(NodeError, redis.RedisError):  # printed below
                killer.stop()
            for error in killer.errors:
                print(f"   random node every {seconds:g} s: a round failed: {error}")
            return len(killer.actions)

        return disarm

    return arm


def replication_latency(ctx: Context) -> Result:
    """Latency on the engine's links to Redis: a single Redis against the group."""
    files = main_corpus(ctx)
    table = Table("replication_latency", ["latency_ms", "setup", "seconds", "vs_no_latency"])
    for setup in ("single Redis", "2 replicas, sync 1"):
        with _proxied(setup) as (url, proxies):
            base = 0.0
            for latency in (0.0, *LATENCIES_MS):
                for proxy in proxies:
                    proxy.set_latency(latency)
                out = _run(ctx, files, url, 1 if "sync" in setup else 0)
                base = base or out.seconds
                table.add(latency_ms=latency, setup=setup, seconds=out.seconds,
                          vs_no_latency=out.seconds / base)  # fmt: skip
    xs = [0.0, *LATENCIES_MS]
    return Result(table, Plot("Latency on the engine's links to Redis", "added latency (ms)",
                              "wall time (s)",
                              [Series(s, xs, [float(v) for v in table.column("seconds", setup=s)])  # type: ignore[arg-type]
                               for s in ("single Redis", "2 replicas, sync 1")]))  # fmt: skip


@contextlib.contextmanager
def _proxied(setup: str) -> Iterator[tuple[str, list[Proxy]]]:
    if setup.startswith("single"):
        with _server(0) as node:
            proxy = Proxy(node.host, node.port).start()
            try:
                yield node.url.replace(f":{node.port}/", f":{proxy.port}/"), [proxy]
            finally:
                proxy.close()
        return
    net = netfaults.proxied_group(2)
    try:
        yield net.url, net.client
    finally:
        net.close()
