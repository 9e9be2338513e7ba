"""The nemesis reads what a killed Redis will come back with before it is started, and
that is exactly what the restarted server holds (real servers, both persistence kinds).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.keys import JobKeys
from engine.nodes.base import Persistence, RedisNode
from faults.db import DB
from faults.history import History
from faults.persisted import EMPTY, read_persisted

BACKENDS = [
    pytest.param("process", id="process"),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


@pytest.mark.parametrize("redis_backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("persistence", ["snapshot:600000", "aof-always", "none"])
def test_what_is_read_before_the_start_is_what_the_server_loads(
    persistence: str, redis_node_factory: Callable[..., RedisNode]
) -> None:
    node = redis_node_factory(persistence=Persistence.parse(persistence))
    keys = JobKeys("persisted")
    client = node.client()
    client.sadd(keys.done, "1-0", "2-0")
    client.hset(keys.job, "state", "ready")
    if persistence.startswith("snapshot"):
        client.save()  # the snapshot keeps these two...
    client.sadd(keys.done, "3-0")  # ...and only an AOF keeps this one
    client.close()
    node.kill()
    state = read_persisted(node, keys)  # type: ignore[arg-type]
    expected = {"snapshot:600000": ("1-0", "2-0"), "aof-always": ("1-0", "2-0", "3-0")}
    assert state.done == expected.get(persistence, ())
    assert state.job == (persistence != "none")
    node.start()
    client = node.client()
    assert sorted(e.decode() for e in client.smembers(keys.done)) == list(state.done)
    client.close()


def test_the_nemesis_records_the_state_and_the_start(
    redis_node_factory: Callable[..., RedisNode],
) -> None:
    node = redis_node_factory(persistence=Persistence.parse("aof-always"))
    keys = JobKeys("persisted")
    client = node.client()
    client.sadd(keys.done, "1-0")
    client.close()
    history = History()
    db = DB(node, history, owned=False)
    value = db.kill(keys, 50, wipe=False)
    assert value["done_after"] == ["1-0"] and value["job_after"] is False
    assert 0.05 <= value["restart_at"] <= history.now()
    wiped = db.kill(keys, 0, wipe=True)
    assert (wiped["done_after"], wiped["job_after"]) == (list(EMPTY.done), False)
