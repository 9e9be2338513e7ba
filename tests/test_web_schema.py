"""Schemathesis against the published OpenAPI description, over real HTTP to a server on a
real Redis: no generated request may get a 500, and every answer must match the schema.

Bounded (a few dozen requests per operation) so it takes seconds, not minutes. Writes are
sent without the token: a fuzzed ``inputs`` such as ``/`` would walk the whole disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from web_helpers import commit_next, files, make_job, session

from engine.web.app import WebConfig
from engine.web.server import WebServer


@pytest.fixture
def web_schema(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path, job_id: str
) -> Iterator[tuple[OpenApiSchema, str]]:
    """The schema, loaded over HTTP from a server whose Redis holds a finished job."""
    keys = make_job(redis_client, job_id, files(tmp_path, 2))
    worker = session(redis_client, keys, "w")
    commit_next(worker)
    commit_next(worker)
    server = WebServer(WebConfig(redis_url), "127.0.0.1", 0).start()
    try:
        yield schemathesis.openapi.from_url(server.url + "/openapi.json"), job_id
    finally:
        server.stop()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_server_error_and_answers_match_the_schema(
    web_schema: tuple[OpenApiSchema, str],
) -> None:
    """Every operation, half of the cases about the real job (random IDs are only 404s)."""
    schema, job_id = web_schema
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 7, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy(), real=st.booleans())
        @settings(
            max_examples=40,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case, real: bool) -> None:
            if real and case.path_parameters and "job_id" in case.path_parameters:
                case.path_parameters["job_id"] = job_id
            case.call_and_validate(timeout=30, checks=CHECKS)

        check()
