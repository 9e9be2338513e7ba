"""The FastAPI application: the read-only routes, the page, and errors as HTTP answers.

Route handlers are plain functions, so FastAPI runs them on its thread pool and a slow
Redis ties up one thread, never the event loop that serves the event streams.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
from typing import Annotated, Any

import redis
import redis.exceptions as rex
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from engine import __version__, connection
from engine.errors import ConfigError, RedisUnavailableError
from engine.keys import JobKeys
from engine.web import readers
from engine.web.models import JobDetail, JobList, Problem, TaskPage, TaskState, TopWords
from engine.web.watch import Watchers

RETRY_AFTER_S = 2
"""What a 503 tells the client to wait before asking again."""
SOCKET_TIMEOUT_S = 2.0
ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
STATIC = importlib.resources.files("engine.web").joinpath("static")


@dataclasses.dataclass
class WebConfig:
    """What the server needs; the token is never logged or echoed."""

    redis_url: str
    token: str | None = None
    event_interval_s: float = 0.1
    """The shortest interval an event stream may ask for."""


class StreamCount:
    """Event streams open now (``run --serve`` lets them finish before it stops)."""

    def __init__(self) -> None:
        self.open = 0


class NotFound(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class BadField(Exception):
    def __init__(self, field: str, detail: str, status: int = 422) -> None:
        super().__init__(detail)
        self.field, self.detail, self.status = field, detail, status


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such job"},
    422: {"model": Problem, "description": "a bad parameter, named in `field`"},
    503: {"model": Problem, "description": "Redis unreachable; see Retry-After"},
}


def job_keys(job_id: str) -> JobKeys:
    try:
        return JobKeys(job_id)
    except ConfigError as exc:
        raise BadField("id", str(exc)) from exc


def create_app(config: WebConfig) -> FastAPI:
    app = FastAPI(
        title="wordcount",
        version=__version__,
        description="Jobs of the distributed word count in one Redis: progress, tasks, "
        "workers, top words, live events; submitting and deleting with a token.",
    )
    app.state.config = config
    app.state.client = connection.connect(config.redis_url, socket_timeout=SOCKET_TIMEOUT_S)
    app.state.watchers = Watchers()
    app.state.streams = StreamCount()
    _errors(app)
    _read_routes(app)
    from engine.web import events, submit

    events.add_routes(app)
    submit.add_routes(app)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(STATIC.joinpath("index.html")))

    return app


def client_of(request: Request) -> redis.Redis:
    return request.app.state.client  # type: ignore[no-any-return]


def detail(request: Request, job_id: str) -> JobDetail:
    """A job's settings, progress, workers and timeline (updates its watcher)."""
    client, keys = client_of(request), job_keys(job_id)
    raw = readers.job_hash(client, keys)
    if raw is None:
        raise NotFound(job_id)
    watcher = request.app.state.watchers.get(keys)
    watcher.look(client, raw)
    group = readers.group_info(client, keys)
    lag = group.get("lag") if group else None
    return JobDetail(
        job=readers.summary(job_id, raw),
        settings=readers.settings(raw),
        pending=int(group["pending"]) if group else None,
        undelivered=None if lag is None else int(lag),
        dead=readers.dead_count(client, keys),
        workers=watcher.worker_rows(raw),
        timeline=watcher.timeline(client),
    )


def require_job(request: Request, job_id: str) -> JobKeys:
    keys = job_keys(job_id)
    if not client_of(request).exists(keys.job):
        raise NotFound(job_id)
    return keys


def _read_routes(app: FastAPI) -> None:
    @app.get("/jobs", response_model=JobList, responses=ERRORS, tags=["jobs"])
    def list_jobs(request: Request) -> JobList:
        """Every job in this Redis, newest first."""
        return readers.list_jobs(client_of(request))

    @app.get("/jobs/{job_id}", response_model=JobDetail, responses=ERRORS, tags=["jobs"])
    def get_job(request: Request, job_id: str) -> JobDetail:
        """Settings, progress, group figures, workers and the timeline of one job."""
        return detail(request, job_id)

    @app.get("/jobs/{job_id}/tasks", response_model=TaskPage, responses=ERRORS, tags=["jobs"])
    def get_tasks(
        request: Request,
        job_id: str,
        state: TaskState | None = None,
        after: Annotated[str | None, Query(description="entry ID from `next`")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> TaskPage:
        """A page of tasks in stream order: input, byte range, state, owner, idle time,
        deliveries, and the error of dead ones."""
        if after is not None and not ENTRY_ID.match(after):
            raise BadField("after", f"after={after!r} is not an entry ID such as 12-0")
        keys = require_job(request, job_id)
        return readers.tasks(client_of(request), keys, state, after, limit)

    @app.get("/jobs/{job_id}/top", response_model=TopWords, responses=ERRORS, tags=["jobs"])
    def get_top(
        request: Request, job_id: str, k: Annotated[int, Query(ge=1, le=1000)] = 20
    ) -> TopWords:
        """The k most frequent words so far (final once the job is done)."""
        keys = require_job(request, job_id)
        return readers.top(client_of(request), keys, k)


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = extra.pop("headers", None)
    body = Problem(detail=detail, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def unreachable(exc: BaseException) -> JSONResponse:
    return problem(
        503,
        f"Redis is unreachable ({type(exc).__name__}: {exc}); retry in {RETRY_AFTER_S} s",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _errors(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, f"no job {exc.job_id!r} in this Redis", job=exc.job_id)

    @app.exception_handler(BadField)
    def bad_field(_: Request, exc: BadField) -> JSONResponse:
        return problem(exc.status, exc.detail, field=exc.field)

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ())]
        where = [p for p in loc if p not in ("body", "query", "path", "header")]
        field = ".".join(where) or (loc[0] if loc else None)  # "body": no body at all
        text = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
        return problem(422, text, field=field)

    for kind in (rex.ConnectionError, rex.TimeoutError, RedisUnavailableError):
        app.add_exception_handler(kind, lambda _r, e: unreachable(e))
