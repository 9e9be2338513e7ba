"""The JSON API over real HTTP, against the session's real Redis, with jobs in every state:
half-bootstrapped, ready, running (pending, stolen, undelivered), done and failed."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from web_helpers import (
    TOKEN,
    commit,
    commit_next,
    files,
    half_bootstrapped,
    make_job,
    session,
    wait_for,
    web,
)

from engine.keys import JobKeys
from engine.plugins import load_engine
from engine.serial import count_tasks, ranked
from engine.tokenize import Tokenizer
from engine.web.app import WebConfig
from engine.web.server import WebServer

__all__ = ["web"]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def api(web: WebServer) -> httpx.Client:
    return httpx.Client(base_url=web.url, timeout=30)


@pytest.fixture
def jobs(redis_client: redis.Redis, job_id: str, tmp_path: Path) -> dict[str, JobKeys]:
    """One job in each state, made by the engine's functions."""
    tasks = files(tmp_path, 3)
    half_bootstrapped(redis_client, JobKeys(f"{job_id}-boot"), tasks[:2])
    ready = make_job(redis_client, f"{job_id}-ready", tasks)
    running = make_job(redis_client, f"{job_id}-running", tasks)
    slow, fast = session(redis_client, running, "slow"), session(redis_client, running, "fast")
    assert slow.read_new(None) is not None  # 1-0 pending to slow ...
    commit_next(fast)  # 2-0 done by fast
    stolen = fast.claim_stale(0)  # ... then stolen by fast
    assert stolen is not None and stolen.entry_id == "1-0"
    done = make_job(redis_client, f"{job_id}-done", tasks)
    for _ in tasks:
        commit_next(session(redis_client, done, "w"))
    failed = make_job(redis_client, f"{job_id}-failed", tasks[:2])
    worker = session(redis_client, failed, "w")
    commit_next(worker)
    delivery = worker.read_new(None)
    assert delivery is not None and worker.dead_letter(delivery, "boom: unreadable")
    return {"boot": JobKeys(f"{job_id}-boot"), "ready": ready, "running": running,
            "done": done, "failed": failed}  # fmt: skip


def test_list_shows_every_state(api: httpx.Client, jobs: dict[str, JobKeys]) -> None:
    answer = api.get("/jobs")
    assert answer.status_code == 200
    listed = {j["id"]: j for j in answer.json()["jobs"]}
    got = {name: listed[keys.job_id] for name, keys in jobs.items()}
    assert {n: j["state"] for n, j in got.items()} == {
        "boot": "bootstrapping", "ready": "ready", "running": "ready", "done": "done",
        "failed": "failed",
    }  # fmt: skip
    assert [got["done"][k] for k in ("tasks_done", "tasks_failed", "tasks_total")] == [3, 0, 3]
    assert [got["failed"][k] for k in ("tasks_done", "tasks_failed", "tasks_total")] == [1, 1, 2]
    assert got["done"]["bytes_done"] == got["done"]["bytes_total"] > 0
    assert got["done"]["finished_ms"] >= got["done"]["started_ms"] > 0
    assert got["ready"]["finished_ms"] is None


def test_running_job_detail_and_tasks(api: httpx.Client, jobs: dict[str, JobKeys]) -> None:
    job_id = jobs["running"].job_id
    detail = api.get(f"/jobs/{job_id}").json()
    assert (detail["pending"], detail["undelivered"], detail["dead"]) == (1, 1, 0)
    assert detail["job"]["tasks_done"] == 1
    workers = {w["name"]: (w["pending"], w["tasks_done"]) for w in detail["workers"]}
    assert workers == {"slow": (0, 0), "fast": (1, 1)}
    assert detail["settings"]["max_attempts"] == 5
    rows = api.get(f"/jobs/{job_id}/tasks").json()
    assert rows["next"] is None
    assert [(t["entry"], t["state"], t["owner"], t["deliveries"]) for t in rows["tasks"]] == [
        ("1-0", "pending", "fast", 2), ("2-0", "done", None, None),
        ("3-0", "undelivered", None, None),
    ]  # fmt: skip
    assert rows["tasks"][0]["path"].endswith("part-00.txt") and rows["tasks"][0]["end"] == -1
    for state, entries in (("pending", ["1-0"]), ("done", ["2-0"]), ("undelivered", ["3-0"])):
        page = api.get(f"/jobs/{job_id}/tasks", params={"state": state}).json()
        assert [t["entry"] for t in page["tasks"]] == entries, state


def test_dead_tasks_carry_their_error(api: httpx.Client, jobs: dict[str, JobKeys]) -> None:
    job_id = jobs["failed"].job_id
    page = api.get(f"/jobs/{job_id}/tasks", params={"state": "dead"}).json()
    assert [(t["entry"], t["error"]) for t in page["tasks"]] == [("2-0", "boom: unreadable")]
    timeline = api.get(f"/jobs/{job_id}").json()["timeline"]
    assert [e["kind"] for e in timeline] == ["created", "dead", "finished"]


def test_task_pages_follow_the_cursor(api: httpx.Client, jobs: dict[str, JobKeys]) -> None:
    seen, after = [], None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 1, **({"after": after} if after else {})}
        page = api.get(f"/jobs/{jobs['done'].job_id}/tasks", params=params).json()
        seen += [t["entry"] for t in page["tasks"]]
        after = page["next"]
        if after is None:
            break
    assert seen == ["1-0", "2-0", "3-0"]


def test_top_words_equal_the_serial_count(
    api: httpx.Client, jobs: dict[str, JobKeys], tmp_path: Path
) -> None:
    expected = ranked(count_tasks(files(tmp_path, 3), Tokenizer()))
    for k in (1, 5, 20):
        words = api.get(f"/jobs/{jobs['done'].job_id}/top", params={"k": k}).json()["words"]
        assert [(w["word"], w["count"]) for w in words] == expected[:k]


@pytest.mark.parametrize(
    ("path", "field"),
    [("/jobs/{id}/top?k=0", "k"), ("/jobs/{id}/top?k=x", "k"),
     ("/jobs/{id}/tasks?state=lost", "state"), ("/jobs/{id}/tasks?after=zz", "after"),
     ("/jobs/{id}/tasks?limit=5000", "limit"), ("/jobs/bad%20id", "id")],
)  # fmt: skip
def test_bad_parameters_are_422_naming_the_field(
    api: httpx.Client, jobs: dict[str, JobKeys], path: str, field: str
) -> None:
    answer = api.get(path.format(id=jobs["done"].job_id))
    assert answer.status_code == 422
    assert answer.json()["field"] == field and field in answer.json()["detail"]


def test_unknown_job_is_404_with_its_id(api: httpx.Client, job_id: str) -> None:
    for path in ("", "/tasks", "/top", "/events"):
        answer = api.get(f"/jobs/{job_id}-nope{path}")
        assert answer.status_code == 404, path
        assert answer.json()["job"] == f"{job_id}-nope"
        assert f"{job_id}-nope" in answer.json()["detail"]


def test_unreachable_redis_is_503_with_retry_after() -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = WebServer(WebConfig(f"redis://127.0.0.1:{port}"), "127.0.0.1", 0).start()
    try:
        for path in ("/jobs", "/jobs/x", "/jobs/x/top", "/jobs/x/events"):
            answer = httpx.get(server.url + path, timeout=30)
            assert answer.status_code == 503, path
            assert answer.headers["Retry-After"] == "2" and "retry" in answer.json()["detail"]
    finally:
        server.stop()


def test_events_stream_progress_then_end(api: httpx.Client, jobs: dict[str, JobKeys]) -> None:
    with api.stream("GET", f"/jobs/{jobs['done'].job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [line[7:] for line in stream.iter_lines() if line.startswith("event: ")]
    assert events == ["progress", "state", "end"]


def test_watcher_sees_commits_and_steals(
    api: httpx.Client, redis_client: redis.Redis, job_id: str, tmp_path: Path
) -> None:
    tasks = files(tmp_path, 3)
    keys = make_job(redis_client, job_id, tasks)
    a, b = session(redis_client, keys, "a"), session(redis_client, keys, "b")
    first = a.read_new(None)
    assert first is not None
    api.get(f"/jobs/{job_id}")  # the server sees 1-0 pending to a
    stolen = b.claim_stale(0)
    assert stolen is not None

    def looked_again() -> dict[str, Any] | None:
        found: dict[str, Any] = api.get(f"/jobs/{job_id}").json()
        return found if any(e["kind"] == "stolen" for e in found["timeline"]) else None

    detail = wait_for("the steal in the timeline", looked_again)
    assert "task 1-0 claimed by b from a" in [e["text"] for e in detail["timeline"]]
    commit(b, stolen.entry_id, stolen.task)
    rows = {w["name"]: w for w in api.get(f"/jobs/{job_id}").json()["workers"]}
    assert (rows["b"]["tasks_done"], rows["b"]["bytes_done"]) == (1, tasks[0].size)
    assert (rows["a"]["tasks_done"], rows["a"]["bytes_done"]) == (0, 0)
    assert rows["b"]["last_commit_ms"] > 0 and rows["a"]["last_commit_ms"] is None


def test_submit_and_delete_need_the_token(
    api: httpx.Client, redis_url: str, job_id: str, tmp_path: Path
) -> None:
    body = {"inputs": [str(tmp_path)], "job": job_id}
    files(tmp_path, 2)
    assert api.post("/jobs", json=body).status_code == 401
    assert api.post("/jobs", json=body, headers={"Authorization": "Bearer no"}).status_code == 401
    assert api.delete(f"/jobs/{job_id}").status_code == 401
    closed = WebServer(WebConfig(redis_url), "127.0.0.1", 0).start()
    try:
        answer = httpx.post(closed.url + "/jobs", json=body, headers=AUTH, timeout=30)
        assert answer.status_code == 403 and "WORDCOUNT_API_TOKEN" in answer.json()["detail"]
    finally:
        closed.stop()
    assert api.get(f"/jobs/{job_id}").status_code == 404  # nothing was written


def test_submitted_job_is_counted_by_a_worker_started_elsewhere(
    api: httpx.Client, redis_client: redis.Redis, job_id: str, tmp_path: Path
) -> None:
    tasks = files(tmp_path, 4)
    body = {"inputs": [str(tmp_path)], "job": job_id, "lower": True, "max_attempts": 3}
    answer = api.post("/jobs", json=body, headers=AUTH)
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"/jobs/{job_id}"
    assert (answer.json()["state"], answer.json()["tasks_total"]) == ("ready", 4)
    assert api.post("/jobs", json=body, headers=AUTH).status_code == 200  # resumed, not redone
    conflict = api.post("/jobs", json={**body, "lower": False}, headers=AUTH)
    assert conflict.status_code == 409 and "lower" in conflict.json()["detail"]
    assert api.delete(f"/jobs/{job_id}", headers=AUTH).status_code == 409  # still running
    load_engine(None).worker(redis_client, job_id, deadline_s=30, wait_for_job_s=5).run()
    expected = ranked(count_tasks(tasks, Tokenizer(lower=True)))
    words = api.get(f"/jobs/{job_id}/top", params={"k": 50}).json()["words"]
    assert [(w["word"], w["count"]) for w in words] == expected[:50]
    assert Counter(dict(expected)).total() == sum(w["count"] for w in words)
    deleted = api.delete(f"/jobs/{job_id}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["deleted_keys"] >= 4
    assert api.get(f"/jobs/{job_id}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [({"inputs": ["/no/such/dir"]}, "inputs"), ({"inputs": []}, "inputs"),
     ({"chunk_size": "lots"}, "chunk_size"), ({"max_attempts": 0}, "max_attempts"),
     ({"job": "bad id"}, "id"), ({"split_on": "tabs"}, "split_on"), ({"colour": 1}, "colour")],
)  # fmt: skip
def test_bad_submissions_are_422_naming_the_field(
    api: httpx.Client, tmp_path: Path, job_id: str, change: dict[str, Any], field: str
) -> None:
    files(tmp_path, 1)
    answer = api.post("/jobs", json={"inputs": [str(tmp_path)], "job": job_id, **change},
                      headers=AUTH)  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert api.get(f"/jobs/{job_id}").status_code == 404


def test_openapi_describes_every_route(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert set(paths) >= {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/tasks",
                          "/jobs/{job_id}/top", "/jobs/{job_id}/events"}  # fmt: skip
    assert set(paths["/jobs"]) == {"get", "post"} and "delete" in paths["/jobs/{job_id}"]
    page = api.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert api.get("/static/app.js").status_code == 200
