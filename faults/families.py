"""The main property's draws, split into families so that ``pytest -n`` spreads them.

A family is one :func:`faults.strategies.scenarios` narrowed to a region: process faults,
Redis faults, network faults, anything on one node, and a replicated group's faults. The
replicated family mixes the group's kinds; :func:`one_group_kind` narrows it to one kind
with ``--sync-replicas 1``, so that every group kind runs at every profile however few
examples the profile draws (seven kinds do not fit six mixed examples).
"""

from __future__ import annotations

import hypothesis.strategies as st

from faults.scenario import (
    GROUP_ACTIONS,
    NETWORK_ACTIONS,
    PROCESS_ACTIONS,
    PROCESS_ONLY_KINDS,
    REDIS_ACTIONS,
    Scenario,
)
from faults.strategies import scenarios, size

REPLICATION_ACTIONS = ("crash", *GROUP_ACTIONS)
"""The ``replication-faults`` family's kinds besides its own group fault
(:func:`faults.strategies.group_fault`, one in every scenario): the group's (a killed,
paused, frozen or partitioned primary, a killed replica) and worker or driver crashes.
Small datasets only (no million-word tier), on a group without persistence: a failover
costs seconds, and the family must fit a ``ci`` run."""


def _replicated(
    actions: tuple[str, ...], sync: tuple[int, ...] = (0, 1)
) -> st.SearchStrategy[Scenario]:
    return scenarios(
        actions=actions, replicas=2, max_workers=3, max_faults=1, persistence=("none",),
        max_vocabulary=0, liveness_s=40.0, timeout_s=180.0, sync_choices=sync,
    )  # fmt: skip


def families(max_vocabulary: int | None = None) -> dict[str, st.SearchStrategy[Scenario]]:
    """The main property's draws: process faults only, Redis faults only, network faults
    only (:mod:`faults.netkinds`), anything on one node (the whole space), and a
    replicated group's faults (:mod:`faults.group_db`). ``faults.teeth`` hunts the buggy
    engines with three of them, as the suite would. ``max_vocabulary`` defaults to the
    profile's (:func:`faults.choices.vocabulary_cap`)."""
    cap = max_vocabulary
    return {
        "worker-faults": scenarios(actions=PROCESS_ACTIONS, max_vocabulary=cap),
        "redis-faults": scenarios(actions=REDIS_ACTIONS, max_workers=4, max_vocabulary=cap),
        "network-faults": scenarios(actions=NETWORK_ACTIONS, max_vocabulary=cap),
        "any-faults": scenarios(max_faults=4, max_vocabulary=cap),
        "replication-faults": _replicated(REPLICATION_ACTIONS),
    }


def families_on(
    backend: str, max_vocabulary: int | None = None
) -> dict[str, st.SearchStrategy[Scenario]]:
    """:func:`families` that can run on ``backend``: on Docker the replicated family
    draws no split brain and no slowed links (:data:`PROCESS_ONLY_KINDS`)."""
    drawn = families(max_vocabulary)
    if backend != "process":
        drawn["replication-faults"] = _replicated(group_kinds_on(backend, "crash"))
    return drawn


def group_kinds_on(backend: str, *others: str) -> tuple[str, ...]:
    """The group's kinds a ``backend`` can run (all on local processes), after ``others``."""
    own = GROUP_ACTIONS if backend == "process" else tuple(
        name for name in GROUP_ACTIONS if name not in PROCESS_ONLY_KINDS)  # fmt: skip
    return (*others, *own)


def one_group_kind(kind: str) -> st.SearchStrategy[Scenario]:
    """Replicated scenarios whose group fault is ``kind`` (and whose second fault, if any,
    is ``kind`` again or a crash), with ``--sync-replicas 1``: where the replication rule
    is judged (no acknowledged commit lost). Everything else is drawn as the family draws
    it; the sync-0 side and the mixtures are the family's."""
    if kind not in GROUP_ACTIONS:
        raise ValueError(f"{kind!r} is not a group kind: use one of {', '.join(GROUP_ACTIONS)}")
    return _replicated(("crash", kind), sync=(1,)).filter(_has_words)


def _has_words(scenario: Scenario) -> bool:
    """A job with a word in it reaches every group trigger (a bootstrap call, a counted
    task, a commit): the fault then surely fires, which is what a test of one kind is for."""
    return size(scenario)["words"] > 0
