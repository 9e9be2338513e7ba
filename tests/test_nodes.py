"""Managed Redis nodes against real servers: processes and, where Docker can, containers.

No mocks: the fault suite trusts kill, pause, wipe and persistence to behave as a real
crash would, so these tests crash real servers and look at what came back.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.errors import ConfigError, NodeError
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.factory import docker_backend_ready, embedded_node, make_node
from engine.nodes.process import ProcessNode, find_redis_server

ROOT = Path(__file__).resolve().parents[1]
MakeNode = Callable[..., RedisNode]


@pytest.fixture(
    params=[
        pytest.param("process", id="process"),
        pytest.param("docker", id="docker", marks=pytest.mark.docker),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "process" and find_redis_server() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    if name == "docker" and not docker_backend_ready():
        pytest.skip(
            "Docker engine not answering or no Redis image: run bash docker/build-redis-image.sh"
        )
    return name


@pytest.fixture
def make(backend: str) -> Iterator[MakeNode]:
    """Started nodes of the current backend, all closed after the test."""
    nodes: list[RedisNode] = []

    def factory(**kwargs: object) -> RedisNode:
        node = make_node(backend, **kwargs)  # type: ignore[arg-type]
        nodes.append(node)
        node.start()
        return node

    yield factory
    for node in nodes:
        node.close()


def handle(node: RedisNode) -> str:
    """What identifies the node's server to the OS or the Docker engine."""
    if isinstance(node, ProcessNode):
        return f"port:{node.port}"
    container_id = getattr(node, "container_id", None)
    assert container_id, "a started container node has an ID"
    return f"container:{container_id}"


def leftovers(which: str) -> str:
    """What still exists of a server according to pgrep or ``docker ps -a`` ("" if nothing)."""
    kind, _, value = which.partition(":")
    if kind == "port":
        pattern = f"redis-server .*:{value}$"
        found = subprocess.run(["pgrep", "-a", "-f", pattern], capture_output=True, text=True)
        return found.stdout.strip()
    found = subprocess.run(
        ["docker", "ps", "-a", "-q", "--no-trunc", "--filter", f"id={value}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def bare_client(node: RedisNode, password: str | None) -> redis.Redis:
    """A client with the given password and no retries (redis-py retries auth errors)."""
    return redis.Redis(
        host=node.host, port=node.port, password=password, retry=Retry(NoBackoff(), 0)
    )


def test_start_set_get(make: MakeNode) -> None:
    node = make()
    client = node.client()
    client.set("word", "count")
    assert client.get("word") == b"count"
    assert redis.Redis.from_url(node.url).get("word") == b"count"
    assert node.is_running()


def test_password_required(make: MakeNode) -> None:
    node = make()
    with pytest.raises(redis.AuthenticationError):
        bare_client(node, None).ping()
    with pytest.raises(redis.AuthenticationError):
        bare_client(node, "wrong").ping()


def test_aof_everysec_keeps_data_across_kill(make: MakeNode) -> None:
    node = make(persistence=Persistence.parse("aof-everysec"))
    client = node.client()
    client.set("kept", "yes")
    time.sleep(1.2)  # past the fsync second
    port, password = node.port, node.password
    node.kill()
    assert not node.is_running()
    node.restart()
    assert (node.port, node.password) == (port, password)
    assert client.get("kept") == b"yes"  # the same client reconnects to the same address


def test_restart_with_wipe_loses_data(make: MakeNode) -> None:
    node = make(persistence=Persistence.parse("aof-everysec"))
    node.client().set("lost", "soon")
    time.sleep(1.1)
    node.restart(wipe=True, downtime_s=0.1)
    assert node.client().get("lost") is None
    assert node.client().dbsize() == 0


def test_snapshots_keep_data_across_kills(make: MakeNode) -> None:
    node = make(persistence=Persistence.parse("snapshot:200"))
    client = node.client()
    client.set("first", "1")
    time.sleep(0.6)
    node.kill()
    node.restart()
    assert client.get("first") == b"1"
    # The snapshot thread must come back with the server.
    client.set("second", "2")
    time.sleep(0.6)
    node.restart()  # kills the running server first
    assert client.mget("first", "second") == [b"1", b"2"]


def test_graceful_stop_saves_by_mode(make: MakeNode) -> None:
    slow = make(persistence=Persistence("snapshot", 60_000))  # no periodic save in the test
    slow.client().set("saved", "by shutdown")
    slow.stop()
    assert not slow.is_running()
    slow.start()
    assert slow.client().get("saved") == b"by shutdown"
    volatile = make(persistence=Persistence("none"))
    volatile.client().set("gone", "1")
    volatile.stop()
    volatile.start()
    assert volatile.client().get("gone") is None


def test_pause_blocks_and_resume_answers(make: MakeNode) -> None:
    node = make()
    node.pause()
    assert node.is_running()  # paused still counts as up
    with pytest.raises(redis.TimeoutError):
        node.client(socket_timeout=0.3, socket_connect_timeout=0.3).ping()
    node.resume()
    assert node.client(socket_timeout=2).ping()


def test_stop_and_restart_after_pause(make: MakeNode) -> None:
    """A frozen server must still be killable and stoppable (chaos may pause then crash)."""
    node = make(persistence=Persistence("snapshot", 60_000))
    node.client().set("k", "v")
    node.pause()
    node.stop()  # resumes, then SHUTDOWN SAVE
    node.start()
    assert node.client().get("k") == b"v"
    node.pause()
    node.restart()
    assert node.client().ping()


def test_close_leaves_nothing_behind(make: MakeNode) -> None:
    node = make()
    which = handle(node)
    assert leftovers(which)
    data_dir = Path(getattr(node, "data_dir"))  # noqa: B009 - both kinds have it
    node.close()
    node.close()  # idempotent
    assert leftovers(which) == ""
    assert not data_dir.exists()
    with pytest.raises(NodeError):
        node.start()


def test_given_data_dir_is_kept(make: MakeNode, tmp_path: Path) -> None:
    node = make(data_dir=tmp_path / "data", persistence=Persistence("aof-everysec"))
    node.client().set("k", "v")
    node.close()
    assert (tmp_path / "data").is_dir()


def test_taken_port_is_reported(make: MakeNode) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(NodeError, match=r"port|in use|allocated"):
            make(port=port)


def test_make_node_rejects_unknown_backend() -> None:
    with pytest.raises(ConfigError):
        make_node("cloud")  # type: ignore[arg-type]


@pytest.mark.skipif(find_redis_server() is None, reason="redis-server is not installed")
def test_embedded_node_prefers_a_process() -> None:
    with embedded_node() as node:
        assert isinstance(node, ProcessNode)
        assert node.client().ping()


def _run_owner(script: str) -> subprocess.Popen[str]:
    """A separate Python that starts a node and prints one line about it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TESTCONTAINERS_RYUK_DISABLED": "true"}
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )


def _gone(pid: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, IndexError):
            return True
        if state == "Z":
            return True  # dead, waiting for init to reap it
        time.sleep(0.05)
    return False


@pytest.mark.skipif(
    find_redis_server() is None or not sys.platform.startswith("linux"),
    reason="needs redis-server and Linux (parent-death signal)",
)
@pytest.mark.parametrize("exit_how", ["sigkill", "normal-exit"])
def test_server_dies_with_its_program(exit_how: str) -> None:
    """No server outlives its program, even one started from a thread that has ended."""
    script = (
        "import threading, time, sys\n"
        "from engine.nodes.process import ProcessNode\n"
        "node = ProcessNode()\n"
        "t = threading.Thread(target=node.start); t.start(); t.join()\n"
        "time.sleep(0.3); assert node.client().ping()\n"
        "print(node.pid, node.data_dir, flush=True)\n"
        f"time.sleep({60 if exit_how == 'sigkill' else 0})\n"
    )
    owner = _run_owner(script)
    assert owner.stdout is not None
    pid, data_dir = owner.stdout.readline().split()
    if exit_how == "sigkill":
        owner.send_signal(signal.SIGKILL)
    assert owner.wait(10) in (0, -signal.SIGKILL)
    assert _gone(int(pid))
    # A killed program cannot remove its temporary data dir; a normal exit does.
    assert Path(data_dir).exists() == (exit_how == "sigkill")
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.docker
def test_orphan_container_is_reaped() -> None:
    """A container whose program was SIGKILL-ed goes away when the next node starts."""
    if not docker_backend_ready():
        pytest.skip("Docker engine not answering or no Redis image")
    owner = _run_owner(
        "import time\n"
        "from engine.nodes.container import ContainerNode\n"
        "node = ContainerNode(); node.start()\n"
        "print(node.container_id, node.data_dir, flush=True); time.sleep(60)\n"
    )
    assert owner.stdout is not None
    container_id, data_dir = owner.stdout.readline().split()
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    with make_node("docker") as node:
        assert node.client().ping()
    listed = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"id={container_id}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.strip() == ""
    assert not Path(data_dir).exists()


@pytest.mark.skipif(find_redis_server() is None, reason="redis-server is not installed")
def test_a_kill_ends_the_snapshot_child_too(tmp_path: Path) -> None:
    """A killed server's BGSAVE child went on and renamed its snapshot into place later,
    under the nemesis copying the directory (a CI failure: 'No such file or directory:
    temp-PID.rdb'). The kill takes the process group: nothing moves afterwards."""
    node = ProcessNode(data_dir=tmp_path / "data")
    node.start()
    try:
        client = node.client(socket_timeout=5)
        client.mset({f"k{i}": "v" for i in range(5)})
        client.config_set("rdb-key-save-delay", 1_000_000)  # a microsecond figure: 1 s a key
        client.bgsave()
        client.close()
        pid = node.pid
        assert pid is not None
        children = Path(f"/proc/{pid}/task/{pid}/children")
        deadline = time.monotonic() + 5
        while not children.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.01)
        (child,) = (int(c) for c in children.read_text().split())
        node.kill()
        time.sleep(0.2)
        assert not _alive(child), "the snapshot child outlived its killed server"
        assert not (tmp_path / "data" / "dump.rdb").exists()
    finally:
        node.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
