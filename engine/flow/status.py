"""What ``wordcount status`` and ``delete`` need to know about dataflow jobs."""

from __future__ import annotations

import redis

from engine import connection
from engine.keys import FlowKeys


def flow_status(client: redis.Redis, job_id: str, *, one_line: bool = False) -> str | None:
    """The job's state and stage, or ``None`` if ``job_id`` is not a dataflow job."""
    keys = FlowKeys(job_id)
    fields = ("kind", "state", "stage", "n_stages", "tasks_done", "partitions")
    raw = connection.call(client, lambda: client.hmget(keys.job, fields))
    if raw[0] != b"flow":
        return None
    state, stage, n_stages, done, partitions = (
        v.decode() if isinstance(v, bytes) else "?" for v in raw[1:]
    )
    if one_line:
        return f"{job_id}  {state}  flow stage {stage} of {n_stages}"
    return "\n".join(
        [
            f"job:          {job_id} (dataflow)",
            f"state:        {state}",
            f"stage:        {stage} of {n_stages} (counting from 0), {partitions} partitions",
            f"tasks:        {done} committed",
        ]
    )


def flow_keys(client: redis.Redis, job_id: str) -> list[str]:
    """The keys of a dataflow job beyond a word-count job's (for ``delete``)."""
    keys = FlowKeys(job_id)
    data = connection.call(
        client, lambda: [k.decode() for k in client.scan_iter(keys.data_pattern)]
    )
    return [keys.result, keys.runs, *data]
