"""Replay a dataflow scenario, as a failing property prints it.

    python -m faults.flow.replay 'SCENARIO_JSON' [--backend process|docker]
        [--executor faults.flow.buggy:NAME] [--repeat N]

Prints VALID or INVALID with the checker's problems (exit 0 or 1). Real processes race,
so a failure that needed one interleaving may replay valid: ``--repeat`` runs it again
until it fails or N runs have passed.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from engine.nodes.factory import make_node
from faults.errors import ScenarioError
from faults.flow.checker import check
from faults.flow.runner import PERSISTENCE, run_flow_scenario
from faults.flow.scenario import FlowFault, FlowScenario
from faults.scenario import Action

_FAULT = re.compile(
    r"^(?P<point>[a-z_.]+)(?:@stage(?P<stage>\d+))?#(?P<nth>\d+):(?P<kind>[a-z-]+)(?:=(?P<ms>\d+))?$"
)


def parse_fault(text: str) -> FlowFault:
    """The inverse of ``str(FlowFault)``."""
    match = _FAULT.match(text.strip())
    if match is None:
        raise ScenarioError(f"cannot read flow fault {text!r}: write POINT[@stageS]#N:ACTION[=MS]")
    stage = match.group("stage")
    action = Action(match.group("kind"), int(match.group("ms") or 0))
    return FlowFault(
        match.group("point"), action, int(match.group("nth")), None if stage is None else int(stage)
    )


def parse_scenario(text: str) -> FlowScenario:
    """The inverse of :meth:`FlowScenario.describe`."""
    try:
        data: dict[str, Any] = json.loads(text)
        return FlowScenario(
            program=data["program"],
            pairs=tuple((int(k), int(v)) for k, v in data["pairs"]),
            workers=int(data["workers"]),
            claim_timeout_ms=int(data["claim_timeout_ms"]),
            faults=tuple(parse_fault(f) for f in data["faults"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ScenarioError(
            f"not a flow scenario ({exc}): pass the JSON a failure printed"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", help="the scenario's JSON")
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    parser.add_argument("--executor", help="module:factory of an executor to test")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        scenario = parse_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"error: {exc}")
        return 2
    node = make_node(args.backend, persistence=PERSISTENCE)
    node.start()
    try:
        for run in range(1, args.repeat + 1):
            problems = check(run_flow_scenario(scenario, node, executor=args.executor))
            if problems:
                print(f"INVALID (run {run}):\n  " + "\n  ".join(problems))
                return 1
        print(f"VALID ({args.repeat} run(s))")
        return 0
    finally:
        node.close()


if __name__ == "__main__":
    raise SystemExit(main())
