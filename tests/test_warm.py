"""A warm Redis node (faults/warm.py) carries nothing from one scenario into the next:
not a key, a function library, a script, a connection, a snapshot or an AOF record, and
a node it cannot vouch for is closed rather than handed out again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from engine.nodes.base import Persistence, RedisNode
from engine.nodes.common import ManagedNode
from faults.checker import check
from faults.db import make_node
from faults.runner import run_scenario
from faults.scenario import Dataset, Fault, Generated, Scenario, Settings
from faults.warm import WarmPool

MODES = ("none", "snapshot:200", "aof-everysec", "aof-always")
LIBRARY = "#!lua name=leftover\nredis.register_function('leftover', function() return 1 end)"


@pytest.fixture
def pool() -> Iterator[WarmPool]:
    made = WarmPool()
    yield made
    made.close_all()


def started(pool: WarmPool, backend: str, mode: str) -> ManagedNode:
    node = make_node(backend, Persistence.parse(mode))
    assert isinstance(node, ManagedNode)
    node.start()
    pool.adopt(node)
    return node


def dirty(node: RedisNode) -> tuple[redis.Redis, int, str]:
    """Leave what a scenario could leave: keys in two databases, a function library, a
    cached script, a snapshot on disk (even under ``none``: the snapshot fault) and an
    open connection. Returns that connection, its ID and the script's SHA."""
    client = node.client(socket_timeout=5)
    client_id = int(client.client_id())
    client.set("job:left", "over")
    client.xadd("stream:left", {"k": "v"})
    other = node.client(socket_timeout=5, db=3)
    other.set("elsewhere", "1")
    other.close()
    client.function_load(LIBRARY)
    sha = client.script_load("return 7")
    node.bgsave()
    return client, client_id, sha


@pytest.mark.parametrize("mode", MODES)
def test_a_given_back_node_is_empty_on_line_and_on_disk(
    pool: WarmPool, redis_backend: str, mode: str
) -> None:
    node = started(pool, redis_backend, mode)
    straggler, straggler_id, sha = dirty(node)
    assert pool.give_back(node, redis_backend)
    assert pool.take(redis_backend, Persistence.parse(mode)) is node
    client = node.client(socket_timeout=5)
    try:
        listed = client.client_list()
        # Connection IDs only grow: any opened before the straggler's (the snapshot
        # ticker's first one included) or the straggler's own would still be listed if
        # the reset had not cut it; the ticker reconnects with a new ID.
        old = [entry for entry in listed if int(entry["id"]) <= straggler_id]
        assert old == [], f"the old run's connections must be cut: {listed}"
        assert client.dbsize() == 0 and client.info("keyspace") == {}
        assert client.function_list() == []
        assert client.script_exists(sha) == [False]
    finally:
        client.close()
    if mode != "snapshot:200":  # there the ticker may have saved the emptied dataset since
        assert not (Path(node.data_dir) / "dump.rdb").exists()
    files = [path for path in Path(node.data_dir).rglob("*") if path.is_file()]
    assert not [path for path in files if b"job:left" in path.read_bytes()]  # nor in an AOF
    node.kill()  # what a Redis fault of the next scenario does: it must load nothing old
    node.restart()
    client = node.client(socket_timeout=5)
    try:
        assert client.info("keyspace") == {}
    finally:
        client.close()
    straggler.close()
    pool.give_back(node, redis_backend)


def test_a_node_with_changed_config_is_closed_not_reused(
    pool: WarmPool, redis_backend: str
) -> None:
    node = started(pool, redis_backend, "none")
    client = node.client(socket_timeout=5)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    assert not pool.give_back(node, redis_backend)
    assert not node.is_running()
    assert pool.take(redis_backend, Persistence.parse("none")) is None


def test_a_node_left_down_is_closed_not_reused(pool: WarmPool, redis_backend: str) -> None:
    node = started(pool, redis_backend, "snapshot:200")
    node.kill()
    assert not pool.give_back(node, redis_backend)
    assert pool.take(redis_backend, Persistence.parse("snapshot:200")) is None


def test_a_node_never_adopted_is_not_kept(pool: WarmPool, redis_backend: str) -> None:
    """Without the configuration it started with there is nothing to check it against."""
    node = make_node(redis_backend, Persistence.parse("none"))
    node.start()
    assert not pool.give_back(node, redis_backend)
    assert not node.is_running()


def scenario(name: str, seed: int, faults: tuple[Fault, ...] = ()) -> Scenario:
    return Scenario(
        name=name,
        workers=2,
        dataset=Dataset(generated=Generated(seed=seed, files=3, words=300)),
        settings=Settings(persistence="aof-always"),
        faults=faults,
        timeout_s=120,
    )


def test_scenarios_in_a_row_share_the_node_not_the_data(redis_backend: str) -> None:
    """The second and third runs get the first one's server (warm, see the history), each
    judged valid against its own serial count; the third kills Redis, so it restarts from
    the AOF the reset rewrote (a record of an earlier run there would be counted again)."""
    first = run_scenario(scenario("first", 1), redis_backend)
    second = run_scenario(scenario("second", 2), redis_backend)
    kill = (Fault.parse("worker.after_count#1:redis-kill=50"),)
    third = run_scenario(scenario("third", 3, kill), redis_backend)
    warm = [o.history.select("redis-start")[0].value["warm"] for o in (first, second, third)]
    assert warm[1:] == [True, True], warm
    for outcome in (first, second, third):
        verdict = check(outcome)
        assert verdict.status == "valid", verdict.problems
    assert [str(f.fault) for f in third.fired] == [str(kill[0])]


def test_a_forked_child_does_not_take_its_parents_nodes(
    pool: WarmPool, redis_backend: str
) -> None:
    """A process forked from a runner inherits the pool object, not the right to its
    nodes: sharing one would mix two scenarios in one server."""
    node = started(pool, redis_backend, "none")
    assert pool.give_back(node, redis_backend)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child answers whether it was handed the parent's node
        got = pool.take(redis_backend, Persistence.parse("none"))
        os.write(write, b"none" if got is None else b"node")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 8)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"none"
    assert Path(node.data_dir).is_dir(), "the child must not close the parent's node"
    assert pool.take(redis_backend, Persistence.parse("none")) is node
    assert pool.give_back(node, redis_backend)
