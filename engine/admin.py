"""Looking at and removing jobs: what ``wordcount status`` and ``delete`` print."""

from __future__ import annotations

import redis

from engine import connection
from engine.flow.status import flow_keys, flow_status
from engine.job import JobInfo, group_figures, read_job, require_job
from engine.keys import JOB_KEY_PATTERN, JobKeys, job_id_from_key


def list_jobs(client: redis.Redis) -> str:
    """One line per job in this Redis. A job deleted while the list is read is left out
    (CI saw `status` fail on another client's job that vanished between the scan and
    its read)."""
    lines = []
    for key in connection.call(client, lambda: sorted(client.scan_iter(JOB_KEY_PATTERN))):
        job_id = job_id_from_key(key.decode())
        if flow := flow_status(client, job_id, one_line=True):
            lines.append(flow)
            continue
        info = _read(client, JobKeys(job_id))
        if info is None:  # deleted, or still being created, since the scan saw its key
            continue
        lines.append(f"{job_id}  {info.state}  {info.tasks_done}/{info.n_tasks} tasks")
    return "\n".join(lines) if lines else "no jobs"


def _read(client: redis.Redis, keys: JobKeys) -> JobInfo | None:
    return connection.call(client, lambda: read_job(client, keys))


def job_status(client: redis.Redis, job_id: str) -> str:
    """A job's state, progress and group figures, one fact per line."""
    keys = JobKeys(job_id)
    if flow := flow_status(client, job_id):
        return flow
    info = require_job(client, keys)
    figures = connection.call(client, lambda: group_figures(client, keys))
    pending, lag = figures if figures else (None, None)
    settings = info.settings
    return "\n".join(
        [
            f"job:          {job_id}",
            f"state:        {info.state}",
            f"tasks:        {info.tasks_done} done, {info.tasks_failed} failed, "
            f"{info.n_tasks} in all",
            f"bytes:        {info.bytes_done} of {info.bytes_total}",
            f"pending:      {pending}",
            f"undelivered:  {lag}",
            f"tokenizer:    split on {settings.tokenizer.split_on}"
            + (", lower-cased" if settings.tokenizer.lower else ""),
            f"claim after:  {settings.claim_timeout_ms} ms idle; "
            f"fail after {settings.max_attempts} deliveries",
        ]
    )


def delete_job(client: redis.Redis, job_id: str) -> int:
    """Delete every key of the job, staging hashes included; returns how many."""
    keys = JobKeys(job_id)

    def delete() -> int:
        names = keys.all_fixed() + list(client.scan_iter(keys.stage_pattern))
        names += flow_keys(client, job_id)
        return int(client.delete(*names))

    return connection.call(client, delete)
