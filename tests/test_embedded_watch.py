"""The embedded Redis is supervised on its own thread (issue 11, bug 3).

The driver used to check its embedded node only between polls, while one retried call
could last a minute: a redis-server killed mid-commit ended the run with exit 2, "did not
answer for 60 s", and so did a Redis that exited on a full disk.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.crashpoints import HOOK_ENV
from engine.driver import RunOptions, run
from engine.embedded import EmbeddedRedisError, EmbeddedWatch
from engine.inputs import expand_inputs
from engine.nodes import factory
from engine.nodes.base import Persistence
from engine.nodes.process import ProcessNode
from engine.serial import count_tasks
from engine.tokenize import Tokenizer

TESTS_DIR = Path(__file__).resolve().parent


def _hook_env(marker: Path) -> dict[str, str]:
    return {
        HOOK_ENV: "kill_redis_hook:install",
        "KILL_REDIS_MARKER": str(marker),
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }


def test_an_embedded_redis_killed_mid_commit_is_restarted(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(4):
        (inputs / f"f{i}.txt").write_text(" ".join(f"w{i}-{j}" for j in range(2000)) + "\n")
    marker = tmp_path / "killed"
    options = RunOptions(paths=[str(inputs)], workers=1, read_all=True, progress=False,
                         claim_timeout_ms=500, worker_env=_hook_env(marker))  # fmt: skip
    result = run(options)
    assert marker.exists(), "the hook never killed Redis: the test tested nothing"
    assert result.info.state == "done"
    assert result.counts == count_tasks(expand_inputs([str(inputs)]), Tokenizer())


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs (needs the right to mount: skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                          capture_output=True, check=False)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_an_embedded_redis_on_a_full_disk_stops_the_run_with_one_line(
    tmp_path: Path, tiny_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = factory.embedded_node

    def on_tiny_disk(**kwargs: Any) -> Any:
        return real(**{**kwargs, "data_dir": tiny_disk / "redis"})

    monkeypatch.setattr(factory, "embedded_node", on_tiny_disk)
    path = tmp_path / "many.txt"
    path.write_text(" ".join(f"word{i}" for i in range(200_000)) + "\n")  # > 512 KiB of AOF
    options = RunOptions(paths=[str(path)], workers=1, progress=False,
                         persistence=Persistence("aof-always"))  # fmt: skip
    with pytest.raises(EmbeddedRedisError) as caught:
        run(options)
    message = str(caught.value)
    assert "disk is full" in message and "\n" not in message, message


def test_a_restart_that_fails_is_one_more_death_not_the_end() -> None:
    """A server killed again while it starts (here: its port taken meanwhile, a real
    start-up failure) used to end the run with exit 2; now the watch tries again."""
    node = factory.embedded_node()
    if not isinstance(node, ProcessNode):
        pytest.skip("needs a local redis-server")
    node.start()
    watch = EmbeddedWatch(node)
    watch.start()
    blocker = socket.socket()
    try:
        watch.pause()  # so that the port is taken before the watch looks
        node.kill()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind((node.host, node.port))
        blocker.listen()
        watch.resume()
        deadline = time.monotonic() + 30
        while watch.failed_restarts == 0 and watch.error is None:
            assert time.monotonic() < deadline, "the watch never tried to restart"
            time.sleep(0.02)
        blocker.close()
        while watch.restarts == 0 and watch.error is None:
            assert time.monotonic() < deadline, "the node never came back"
            time.sleep(0.02)
        assert watch.error is None, watch.error
        assert node.client().ping()
    finally:
        blocker.close()
        watch.stop()
        node.close()
