"""What fault tolerance costs, and what faults cost: claim timeouts with and without
worker crashes, Redis persistence without faults, and Redis killed every N seconds.

A run under faults that fails or times out is a result (``ok`` is false), not a crash of
the benchmark; a fault-free baseline that fails stops the experiment.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import hooks
from benchmarks.context import Context, Result
from benchmarks.exp_scaling import main_corpus, with_tokens
from benchmarks.nodes import Killer, job_args, node_env, redis_node
from benchmarks.report import Plot, Series, Table
from benchmarks.runs import Outcome, failure, run_engine


def claim_timeout(ctx: Context) -> Result:
    """A short claim timeout recovers a crashed worker's task quickly; a long one waits.

    Each crash happens right after a task is counted, before its commit, so the task stays
    pending with the dead worker until the timeout passes and a live worker steals it.
    """
    s = ctx.scale
    files = main_corpus(ctx)
    table = Table("claim_timeout", ["claim_timeout_ms", "crashes", "seconds", "ok",
                                    "vs_no_crash", "failure"])
    for timeout_ms in s.claim_timeouts_ms:
        extra = ["--claim-timeout", f"{timeout_ms}ms"]
        base = run_engine(files, 2, extra=extra, env={}, timeout_s=s.timeout_s, check=False)
        table.add(claim_timeout_ms=timeout_ms, crashes=0, seconds=base.seconds, ok=base.ok,
                  vs_no_crash=1.0, failure=failure(base))
        crashed = _crashed_run(ctx, files, extra)
        table.add(claim_timeout_ms=timeout_ms, crashes=1, seconds=crashed.seconds,
                  ok=crashed.ok, vs_no_crash=crashed.seconds / base.seconds,
                  failure=failure(crashed))
    table.notes.append("a crash costs a worker restart plus up to one claim timeout; a "
                       "timeout shorter than a busy worker's pauses gets live tasks stolen, "
                       "and after --max-attempts deliveries they fail")
    xs = [float(t) for t in s.claim_timeouts_ms]
    return Result(table, Plot(
        "Claim timeout, with and without a worker crash", "claim timeout (ms)", "wall time (s)",
        [Series(f"{c} crash(es)", xs, _seconds(table, crashes=c)) for c in (0, 1)], logx=True))


def _crashed_run(ctx: Context, files: list[Path], extra: list[str]) -> Outcome:
    """A run in which one worker crashes after counting a task, before committing it."""

    def run(env: dict[str, str]) -> Outcome:
        return run_engine(files, 2, extra=extra, env=env, timeout_s=ctx.scale.timeout_s,
                          check=False)

    return with_tokens(run, "benchmarks.hooks:crash_some", {hooks.CRASHES_ENV: "1"})


def persistence(ctx: Context) -> Result:
    """What each persistence mode of the embedded Redis costs a run without faults."""
    s = ctx.scale
    files = main_corpus(ctx)
    table = Table("persistence", ["persistence", "seconds", "vs_none"])
    base: Outcome | None = None
    for mode in s.persistence_modes:
        out = run_engine(files, 2, extra=["--persistence", mode], timeout_s=s.timeout_s)
        base = base or out
        table.add(persistence=mode, seconds=out.seconds, vs_none=out.seconds / base.seconds)
    return Result(table, Plot(
        "Persistence against completion time (no faults)", "", "wall time (s)",
        [Series("wordcount run -w 2", [], _seconds(table))],
        categories=list(s.persistence_modes)))


def redis_kills(ctx: Context) -> Result:
    """Redis (AOF, fsync every second) killed with SIGKILL and restarted every N seconds."""
    s = ctx.scale
    files = main_corpus(ctx)
    table = Table("redis_kills", ["kill_every_s", "restarts", "seconds", "ok", "vs_no_kills",
                                  "failure"])
    base = 0.0
    for every in (0.0, *s.kill_every_s):
        out, restarts = _run_with_kills(ctx, files, every)
        base = base or out.seconds
        table.add(kill_every_s=every or None, restarts=restarts, seconds=out.seconds,
                  ok=out.ok, vs_no_kills=out.seconds / base, failure=failure(out))
    labels = ["never", *(f"every {e:g} s" for e in s.kill_every_s)]
    return Result(table, Plot(
        "Redis killed and restarted during a run", "", "wall time (s)",
        [Series("wordcount run -w 2", [], _seconds(table))], categories=labels))


def _run_with_kills(ctx: Context, files: list[Path], every_s: float) -> tuple[Outcome, int]:
    """One run on a Redis of its own, killed every ``every_s`` seconds (never if 0)."""
    with redis_node("aof-everysec") as node:
        _, job = job_args()
        killer = Killer(node, every_s) if every_s else None
        if killer:
            killer.start()
        try:
            out = run_engine(files, 2, extra=job, env=node_env(node), timeout_s=ctx.scale.timeout_s,
                             check=not every_s)
        finally:
            if killer:
                killer.stop()
        return out, killer.restarts if killer else 0


def _seconds(table: Table, **where: object) -> list[float]:
    return [float(v) for v in table.column("seconds", **where)]  # type: ignore[arg-type]
