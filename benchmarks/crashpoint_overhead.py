"""What a crash point costs the engine, in nanoseconds per call.

    python benchmarks/crashpoint_overhead.py [--calls N]

Prints, per call: an empty Python function call (the floor), ``crashpoints.reach`` with no
hook installed (what production pays), ``reach`` with the fault agent installed at a point
no fault needs (skipped without a round trip), and ``reach`` at a reported point, a round
trip to a fault controller on a Unix socket (what a fault run pays per reported point).
"""

from __future__ import annotations

import argparse
import tempfile
import timeit
from pathlib import Path

from engine import crashpoints as cp
from engine.keys import JobKeys
from faults.agent import Agent
from faults.controller import Controller
from faults.history import History
from faults.nemesis import Nemesis
from faults.scenario import Dataset, FileSpec, Scenario


def empty(name: str, **context: object) -> None:
    """Same signature as crashpoints.reach, does nothing."""


def per_call_ns(statement: str, namespace: dict[str, object], calls: int) -> float:
    best = min(timeit.repeat(statement, globals=namespace, number=calls, repeat=5))
    return best / calls * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    calls = parser.parse_args().calls
    ns = {"cp": cp, "empty": empty, "P": cp.WORKER_AFTER_COUNT}
    call = "empty(P, consumer='c', entry='1-0', index=0, deliveries=1)"
    reach = "cp.reach(P, consumer='c', entry='1-0', index=0, deliveries=1)"
    cp.install(None)
    rows = [
        ("empty function call", per_call_ns(call, ns, calls)),
        ("crashpoints.reach, no hook", per_call_ns(reach, ns, calls)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Scenario("bench", Dataset(files=(FileSpec("a.txt", b"a"),)))
        nemesis = Nemesis(scenario, None, History(), JobKeys("bench"))  # type: ignore[arg-type]
        with Controller(str(Path(tmp, "c.sock")), nemesis):
            agent = Agent(str(Path(tmp, "c.sock")), frozenset({cp.WORKER_AFTER_READ}))
            cp.install(agent.reach)
            rows.append(("reach, agent, point not reported", per_call_ns(reach, ns, calls)))
            ns["P"] = cp.WORKER_AFTER_READ
            trips = max(1, calls // 100)
            rows.append(("reach, agent, round trip", per_call_ns(reach, ns, trips)))
            cp.install(None)
            agent.close()
    for label, value in rows:
        print(f"{label:<36} {value:12.0f} ns/call")


if __name__ == "__main__":
    main()
