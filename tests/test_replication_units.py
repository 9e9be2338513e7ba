"""The parts of replication that need no server: Sentinel URLs, the options' checks, and
the recomputation checker (fed events, so that it is shown to catch what it claims)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine import connection
from engine.errors import ConfigError
from engine.sentinel_url import SentinelAddress, parse, redact
from faults.recompute import check_recomputed


def test_sentinel_url_round_trip() -> None:
    url = "redis+sentinel://:p%40ss@127.0.0.1:26379,[::1]:26380/mymaster/3?map=10.0.0.5:6379=127.0.0.1:7001"
    address = parse(url)
    assert address.sentinels == (("127.0.0.1", 26379), ("::1", 26380))
    assert (address.master_name, address.db, address.password) == ("mymaster", 3, "p@ss")
    assert address.address_map == ((("10.0.0.5", 6379), ("127.0.0.1", 7001)),)
    assert parse(address.url()) == address
    assert parse("redis+sentinel://h:1/m") == SentinelAddress((("h", 1),), "m")


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("redis+sentinel://:secret@h:1", "no master name"),
        ("redis+sentinel://:secret@h/m", "'h'"),
        ("redis+sentinel://:secret@h:99999/m", "'h:99999'"),
        ("redis+sentinel://:secret@h:1/m/x", "'x'"),
        ("redis+sentinel://:secret@h:1/m?foo=1", "'foo'"),
        ("redis+sentinel://:secret@h:1/m?map=a:1", "'a:1'"),
    ],
)
def test_bad_sentinel_url_names_the_bad_part_and_hides_the_password(url: str, names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        connection.connect(url)
    assert names in str(caught.value) and "secret" not in str(caught.value)


def test_redact_hides_the_password() -> None:
    assert "secret" not in redact("redis+sentinel://:secret@h:1,h:2/m/0")
    assert "secret" not in connection.redact("redis+sentinel://:secret@h:1,h:2/m/0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replicas", "-1"], "--replicas must be 0 or more, got -1"),
        (["--replicas", "1", "--sync-replicas", "2"], "--sync-replicas 2 waits for more"),
        (["--sync-replicas", "-2"], "--sync-replicas must be 0 or more, got -2"),
        (["--replicas", "2", "--redis-url", "redis://h:1"], "--replicas 2 starts an embedded"),
    ],
)
def test_bad_replication_options_are_one_error_line(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "README.md", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr


def _commit(indexes: list[int], accepted: bool = True) -> dict[str, object]:
    return {"event": "commit", "indexes": indexes, "accepted": accepted}


def test_checker_counts_only_acknowledged_commits_made_twice() -> None:
    events = [
        {"event": "count", "indexes": [0]},
        {"event": "count", "indexes": [1]},
        _commit([0, 1]),
        {"event": "count", "indexes": [1]},  # stolen after a stall: counted, not acked twice
        _commit([1], accepted=False),
        {"event": "count", "indexes": [0]},  # the acked commit of 0 was lost in a failover
        _commit([0]),
    ]
    report = check_recomputed(events)
    assert report.recomputed == {0: 2}
    assert report.counted_again == {0: 2, 1: 2}
    assert "lost and recomputed: 1 [0]" in report.summary()


def test_two_commits_in_flight_together_are_not_a_lost_one() -> None:
    """Seen in the replication family under a frozen primary: worker a's commit of task 0
    waited out the failover for 3 s, b stole task 0 meanwhile, and both commits were
    accepted (idempotently). Nothing was acknowledged when b began, so nothing was lost;
    the checker used to call every task acknowledged twice lost and recomputed."""
    events = [
        {"t": 1.0, "event": "start", "consumer": "a", "indexes": [0]},
        {"t": 1.1, "event": "count", "consumer": "a", "indexes": [0]},
        {"t": 2.0, "event": "start", "consumer": "b", "indexes": [0]},  # stolen mid-commit
        {"t": 2.1, "event": "count", "consumer": "b", "indexes": [0]},
        {"t": 4.0, "event": "commit", "consumer": "a", "accepted": True, "indexes": [0]},
        {"t": 4.1, "event": "commit", "consumer": "b", "accepted": True, "indexes": [0]},
    ]
    report = check_recomputed(events)
    assert report.acknowledged == {0: 2}
    assert report.recomputed == {}
    # the same commits, b's counting begun after a's acknowledgement: a lost commit
    later = [dict(e, t=4.05) if e["consumer"] == "b" and e["event"] != "commit" else e
             for e in events]  # fmt: skip
    assert check_recomputed(later).recomputed == {0: 2}
    # shuffled files (one per worker) are put back in time order
    assert check_recomputed(list(reversed(later))).recomputed == {0: 2}


@pytest.mark.parametrize(
    ("crashes", "partitions", "label"),
    [
        (1, 0, "crashes only, sync 1"),
        (1, 1, "partitions or pauses, sync 1"),
        (0, 0, "no crash or partition (slow links), sync 1"),  # was "crashes only"
    ],
)
def test_a_run_is_summarised_in_the_class_of_its_faults(
    crashes: int, partitions: int, label: str
) -> None:
    from faults.replication_check import ReplicationReport

    assert ReplicationReport(1, crashes, partitions, {}).label == label


def test_the_driver_waits_longer_and_longer_for_an_unconfirmed_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Sentinel naming a dead node held a finished job unconfirmed for minutes, and the
    driver asked again in a tight loop, a core's worth of CPU: it now backs off to 2 s."""
    from engine import driver

    slept: list[float] = []
    monkeypatch.setattr(driver.time, "sleep", slept.append)
    tries = 0
    for _ in range(8):
        tries = driver._back_off(tries)
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
