"""The fault-kind table is complete: every kind has every part, and every reader of the
table (scenario model, nemesis, agent, strategies, generator, ledger) handles every kind.

A kind added with a part missing fails here, not in a scenario months later.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import Phase, find, settings

from faults import agent
from faults import kinds as k
from faults.families import families
from faults.generate import generate_scenario
from faults.review_draws import ROBBED_WORDS
from faults.scenario import ACTIONS, GROUP_ACTIONS, Action, Fault, Trigger
from faults.strategies import scenarios

CLAIM_MS = 500


@dataclasses.dataclass
class _Db:
    """Records which primitive a Redis kind's handler used."""

    calls: list[str] = dataclasses.field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(name)
            return {}

        return call


@dataclasses.dataclass
class _Context:
    db: Any = dataclasses.field(default_factory=_Db)
    keys: Any = None
    faulted: set[int] = dataclasses.field(default_factory=set)
    hung: set[int] = dataclasses.field(default_factory=set)
    stopped: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    loaded: list[int] = dataclasses.field(default_factory=list)
    links: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)

    def cut_links(self, pid: int, ms: int, mode: str) -> None:
        self.links.append((pid, ms, mode))

    def slow_links(self, pid: int, ms: int) -> None:
        self.links.append((pid, ms, "slow"))

    def stop_process(self, pid: int, ms: int) -> None:
        self.stopped.append((pid, ms))

    def load_machine(self, ms: int) -> None:
        self.loaded.append(ms)

    def stop_until_robbed(self, pid: int, ms: int) -> None:
        self.stopped.append((pid, ms))


@pytest.mark.parametrize("name", list(k.KINDS))
def test_every_kind_has_every_part(name: str) -> None:
    kind = k.KINDS[name]
    assert kind.name == name and kind.summary
    assert kind.target in k.TARGETS
    assert kind.draw.domains and set(kind.draw.domains) <= set(k.DOMAINS)
    assert callable(kind.handler)
    if kind.duration is not None:
        assert kind.duration.meaning
        drawn = kind.duration.drawn(CLAIM_MS)
        assert len(drawn) == 3 and all(ms >= 0 for ms in drawn)
        assert not kind.duration.required or all(ms > 0 for ms in drawn)
    if kind.target == k.REDIS:
        assert kind.verb is None and kind.draw.domains == (k.REDIS_DOMAIN,)
    elif kind.verb is not None:
        assert kind.verb in agent.VERBS, f"the agent cannot do {kind.verb!r}"


@pytest.mark.parametrize("name", list(k.KINDS))
def test_every_handler_does_something(name: str) -> None:
    kind = k.KINDS[name]
    context = _Context()
    ms = kind.duration.drawn(CLAIM_MS)[1] if kind.duration else 0
    answer = kind.handler(context, 42, ms)
    if kind.target == k.REDIS:
        assert context.db.calls, f"{name}'s handler touched no Redis primitive"
    elif kind.verb is not None:
        assert answer["do"] == kind.verb
        assert (42 in context.faulted) == kind.faulted
    else:  # acts from outside, and lets the process go on at once
        assert answer == {"do": "continue"}
        assert (context.stopped == [(42, ms)] or context.loaded == [ms]
                or [link[:2] for link in context.links] == [(42, ms)])  # fmt: skip


@pytest.mark.parametrize("name", list(k.KINDS))
def test_every_kind_parses_and_prints(name: str) -> None:
    kind = k.KINDS[name]
    ms = kind.duration.drawn(CLAIM_MS)[1] if kind.duration else 0
    fault = Fault(Trigger(k.COMMIT, 1), Action(name, ms))
    assert Fault.parse(str(fault)) == fault
    assert fault.action.spec is kind
    assert name in (GROUP_ACTIONS if kind.group else ACTIONS)


@pytest.mark.parametrize("kind", sorted(k.KINDS))
def test_strategies_draw_every_kind(kind: str) -> None:
    """Each kind is drawn by the strategies: a kind left out of the draws fails here. A
    search per kind, not a census of a fixed number of draws, so the answer does not
    hang on how many examples one derandomized run happens to spend on each family."""
    # A kind aimed at a review's region is drawn only with that region's large files.
    cap = ROBBED_WORDS[0] if k.KINDS[kind].draw.review_only else None
    drawn = (families()["replication-faults"] if k.KINDS[kind].group
             else scenarios(max_faults=4, max_files=2, max_vocabulary=cap))  # fmt: skip
    found = find(
        drawn,
        lambda scenario: any(f.action.kind == kind for f in scenario.faults),
        # the first found will do: shrinking it took most of this test's minutes
        settings=settings(max_examples=2_000, database=None, deadline=None,
                          phases=[Phase.generate]),
    )
    assert any(f.action.kind == kind for f in found.faults)


def test_generator_draws_every_kind() -> None:
    """Every kind a single node takes (the generator makes single-node scenarios), but
    those that need the driver's embedded Redis or aim at a review's region (drawn by
    the Hypothesis strategies only)."""
    drawn = {f.action.kind for s in range(400) for f in generate_scenario(s).faults}
    aimed = {n for n, kind in k.KINDS.items() if kind.draw.embedded_only or kind.draw.review_only}
    assert drawn == set(k.names()) - aimed


def test_families_split_by_target() -> None:
    assert set(families()) == {"worker-faults", "redis-faults", "network-faults", "any-faults",
                               "replication-faults"}  # fmt: skip
    redis, network = set(k.names(k.REDIS)), set(k.names(k.NETWORK))
    assert redis and redis.isdisjoint(k.names(k.PROCESS))
    assert network and network.isdisjoint(redis | set(k.names(k.PROCESS)))
    assert set(k.names()) == (redis | network | set(k.names(k.PROCESS))
                              | set(k.names(k.MACHINE)))  # fmt: skip


def test_group_kinds_stay_out_of_the_single_node_draws() -> None:
    """The group's kinds are drawn in their family only, and its scenarios hold nothing
    else of Redis: the single-node families draw what they drew before."""
    group = set(k.names(group=True))
    assert group == {"redis-kill-primary", "redis-kill-replica", "redis-kill-every",
                     "net-slow-group", "redis-pause-primary",
                     "redis-freeze-primary", "net-partition-primary"}
    assert group.isdisjoint(ACTIONS)
    assert all(k.KINDS[n].group and k.KINDS[n].target == k.REDIS for n in group)
