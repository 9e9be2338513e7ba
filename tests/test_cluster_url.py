"""``redis+cluster://`` URLs without a server: what is read from them, what is refused
with a message saying what to change, and that the password never shows."""

from __future__ import annotations

import argparse

import pytest
import redis.exceptions as rex

from engine import cluster_url, connection, redisopts
from engine.errors import ConfigError


def test_nodes_login_and_round_trip() -> None:
    url = "redis+cluster://bob:p%40ss@10.0.0.1:7000,[::1]:7001,node-c:7002/0"
    address = cluster_url.parse(url)
    assert address.nodes == (("10.0.0.1", 7000), ("::1", 7001), ("node-c", 7002))
    assert (address.username, address.password) == ("bob", "p@ss")
    assert cluster_url.parse(address.url()) == address


def test_password_only_and_no_login() -> None:
    assert cluster_url.parse("redis+cluster://:secret@h:1").password == "secret"
    bare = cluster_url.parse("redis+cluster://h:1,h:2")
    assert (bare.username, bare.password) == (None, None)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster://h:1/3", "database 0 only"),
        ("redis+cluster://h:port", "not HOST:PORT"),
        ("redis+cluster://h:1,,h:2", "not HOST:PORT"),
        ("redis+cluster://h", "not HOST:PORT"),
        ("redis+cluster://h:70000", "not HOST:PORT"),
        ("redis+cluster://h:1?map=a", "options are not supported"),
    ],
)
def test_bad_urls_say_what_to_change(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        cluster_url.parse(url)


def test_password_is_redacted_in_messages() -> None:
    url = "redis+cluster://:hunter2@h:1,h:2"
    assert "hunter2" not in connection.redact(url)
    assert connection.redact(url) == "redis+cluster://:***@h:1,h:2"
    with pytest.raises(ConfigError) as caught:
        cluster_url.parse("redis+cluster://:hunter2@h:x")
    assert "hunter2" not in str(caught.value)


def test_password_from_the_environment_fills_a_cluster_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(redisopts.PASSWORD_ENV, "s3cr/t")
    args = argparse.Namespace(redis_url="redis+cluster://h:1,h:2", redis_url_file=None)
    url = redisopts.resolve(args)
    assert url is not None
    assert cluster_url.parse(url).password == "s3cr/t"
    assert cluster_url.parse(url).nodes == (("h", 1), ("h", 2))


def test_failover_errors_are_waited_out_and_misuse_is_not() -> None:
    assert cluster_url.is_transient(rex.ClusterDownError("CLUSTERDOWN The cluster is down"))
    assert cluster_url.is_transient(rex.TryAgainError("TRYAGAIN"))
    assert cluster_url.is_transient(rex.SlotNotCoveredError("Slot 7 is not covered"))
    assert cluster_url.is_transient(
        rex.RedisClusterException("Redis Cluster cannot be connected. Please provide ...")
    )
    assert not cluster_url.is_transient(
        rex.RedisClusterException("FCALL - all keys must map to the same key slot")
    )


def test_keys_of_fcall_and_xreadgroup_are_read_from_the_arguments() -> None:
    keys = cluster_url._movable_keys
    assert keys(("FCALL", "commit", 2, "wc:{a}:tasks", "wc:{a}:job", b"blob")) == [
        "wc:{a}:tasks",
        "wc:{a}:job",
    ]
    assert keys(("FCALL", "f", 0, "arg")) == []
    read = ("XREADGROUP", b"GROUP", "g", "streams", b"COUNT", 5, b"STREAMS", "wc:{a}:tasks", ">")
    assert keys(read) == ["wc:{a}:tasks"]
    assert keys(("HGET", "k", "f")) == []
