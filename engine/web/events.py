"""``GET /jobs/{id}/events``: server-sent events of a job's progress and state changes.

One look at Redis per interval per stream (and the watcher looks at most every
:data:`engine.web.watch.MIN_LOOK_S` whatever the number of streams), an event only when
something changed, a comment line as a heartbeat, and the stream ends when the job does,
so a forgotten browser tab costs the job nothing after that.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import redis.exceptions as rex
from fastapi import FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from engine.errors import RedisUnavailableError
from engine.job import FINISHED_STATES
from engine.web import app as web
from engine.web.models import JobDetail

HEARTBEAT_S = 15.0
MAX_STREAM_S = 600.0
"""A stream ends after this long; EventSource reconnects by itself."""


def frame(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def job_events(request: Request, job_id: str, interval_s: float) -> AsyncIterator[str]:
    """``progress`` when the job's figures change, ``state`` when its state does,
    ``unreachable`` while Redis is down, ``end`` (then the stream closes) once finished."""
    streams = request.app.state.streams
    streams.open += 1  # only the event loop's thread changes it
    try:
        async for frame_text in _job_events(request, job_id, interval_s):
            yield frame_text
    finally:
        streams.open -= 1


async def _job_events(request: Request, job_id: str, interval_s: float) -> AsyncIterator[str]:
    last, state, quiet_since = "", "", time.monotonic()
    stop_at = time.monotonic() + MAX_STREAM_S
    yield f"retry: {int(interval_s * 4000)}\n\n"
    while time.monotonic() < stop_at and not await request.is_disconnected():
        try:
            found: JobDetail | None = await anyio.to_thread.run_sync(_look, request, job_id)
        except (rex.ConnectionError, rex.TimeoutError, RedisUnavailableError) as exc:
            problem = {"detail": str(exc), "retry_s": web.RETRY_AFTER_S}
            yield frame("unreachable", json.dumps(problem))
            await asyncio.sleep(web.RETRY_AFTER_S)
            continue
        if found is None:
            yield frame("gone", json.dumps({"job": job_id}))
            return
        payload = found.model_dump_json()
        if payload != last:
            yield frame("progress", payload)
            last, quiet_since = payload, time.monotonic()
        if found.job.state != state:
            state = found.job.state
            yield frame("state", json.dumps({"job": job_id, "state": state}))
        if state in FINISHED_STATES:
            yield frame("end", json.dumps({"job": job_id, "state": state}))
            return
        if time.monotonic() - quiet_since > HEARTBEAT_S:
            yield ": still here\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(interval_s)


def _look(request: Request, job_id: str) -> JobDetail | None:
    try:
        return web.detail(request, job_id)
    except web.NotFound:
        return None


def add_routes(app: FastAPI) -> None:
    @app.get(
        "/jobs/{job_id}/events",
        responses={
            **web.ERRORS,
            200: {"content": {"text/event-stream": {}}, "description": "an event stream"},
        },
        response_class=StreamingResponse,
        tags=["jobs"],
    )
    def get_events(
        request: Request,
        job_id: str,
        interval_ms: Annotated[int, Query(ge=100, le=10_000)] = 500,
    ) -> StreamingResponse:
        """Server-sent events: ``progress`` (the job's detail, as ``GET /jobs/{id}``),
        ``state``, ``unreachable``, ``gone`` and ``end``."""
        web.require_job(request, job_id)
        interval = max(interval_ms / 1000, request.app.state.config.event_interval_s)
        return StreamingResponse(
            job_events(request, job_id, interval),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
