"""``POST /jobs`` and ``DELETE /jobs/{id}``: the only routes that write, behind a token.

A submitted job is made exactly as ``wordcount run`` makes one (:func:`engine.driver.prepare`
for its tasks and settings, then the engine's own idempotent bootstrap), and left for workers
started elsewhere (``wordcount worker --job ID``) to count. Both routes are off unless the
server was given a token, and compare it in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from engine import connection
from engine.cli import parse_size
from engine.driver import RunOptions, new_job_id, prepare
from engine.errors import ConfigError, InputError, JobConflictError
from engine.inputs import DEFAULT_CHUNK_BYTES
from engine.job import FINISHED_STATES
from engine.plugins import load_engine
from engine.tokenize import Tokenizer
from engine.web import app as web
from engine.web import readers
from engine.web.models import JobSummary, Problem, SubmitRequest

AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or wrong token"},
    403: {"model": Problem, "description": "the server has no token: writing is off"},
    409: {"model": Problem, "description": "conflicts with the job as it is"},
}


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_token(request: Request, authorization: str | None) -> None:
    token = request.app.state.config.token
    if not token:
        raise Refused(403, "writing is off: start the server with $WORDCOUNT_API_TOKEN set")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise Refused(401, "send the server's token as 'Authorization: Bearer TOKEN'")


def submit(request: Request, body: SubmitRequest) -> tuple[JobSummary, bool]:
    """Bootstrap the job as ``run`` does; (its summary, whether it is new)."""
    client = request.app.state.client
    job_id = body.job or new_job_id()
    keys = web.job_keys(job_id)
    if any("\x00" in path for path in body.inputs):
        raise web.BadField("inputs", "inputs: a path contains a NUL character")
    try:
        chunk = DEFAULT_CHUNK_BYTES if body.chunk_size is None else parse_size(body.chunk_size)
        options = RunOptions(
            paths=body.inputs,
            job_id=job_id,
            tokenizer=Tokenizer(body.split_on, body.lower),
            csv_column=body.csv_column,
            max_attempts=body.max_attempts,
            claim_timeout_ms=body.claim_timeout_ms,
            chunk_bytes=chunk,
        )
        tasks, settings = prepare(options)
    except InputError as exc:
        raise web.BadField("inputs", f"inputs: {exc}") from exc
    except ConfigError as exc:
        raise web.BadField("chunk_size", f"chunk_size: {exc}") from exc
    existed = readers.job_hash(client, keys) is not None
    bootstrap_client = connection.connect(request.app.state.config.redis_url)
    try:
        load_engine(None).bootstrap(bootstrap_client, keys, settings, tasks)
    except JobConflictError as exc:
        raise Refused(409, str(exc)) from exc
    finally:
        bootstrap_client.close()
    raw = readers.job_hash(client, keys) or {}
    return readers.summary(job_id, raw), not existed


def add_routes(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    def refused(_: Request, exc: Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return web.problem(exc.status, exc.detail, headers=headers)

    @app.post(
        "/jobs",
        status_code=201,
        response_model=JobSummary,
        responses={**web.ERRORS, **AUTH, 200: {"model": JobSummary, "description": "existed"}},
        tags=["admin"],
    )
    def post_job(
        request: Request,
        body: SubmitRequest,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        """Submit a word-count job for workers started elsewhere to count."""
        check_token(request, authorization)
        found, new = submit(request, body)
        return JSONResponse(
            found.model_dump(),
            status_code=201 if new else 200,
            headers={"Location": f"/jobs/{found.id}"},
        )

    @app.delete("/jobs/{job_id}", responses={**web.ERRORS, **AUTH}, tags=["admin"])
    def delete_job(
        request: Request, job_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, int | str]:
        """Delete a finished job's keys (a running one is refused with 409)."""
        check_token(request, authorization)
        from engine.admin import delete_job as delete

        client = request.app.state.client
        raw = readers.job_hash(client, web.job_keys(job_id))
        if raw is None:
            raise web.NotFound(job_id)
        state = readers.text(raw.get(b"state"))
        if state not in FINISHED_STATES:
            raise Refused(409, f"job {job_id!r} is {state}: delete it once it is done or failed")
        request.app.state.watchers.forget(job_id)
        return {"job": job_id, "deleted_keys": delete(client, job_id)}
