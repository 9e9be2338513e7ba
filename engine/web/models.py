"""The shapes of the API's answers and requests: what the OpenAPI description publishes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TaskState = Literal["undelivered", "pending", "done", "dead"]


class JobSummary(BaseModel):
    """One job, as listed by ``GET /jobs``; times are Unix milliseconds (None: not yet)."""

    id: str
    kind: str = "wordcount"
    state: str = Field(description="bootstrapping, ready, done or failed")
    tasks_done: int
    tasks_failed: int
    tasks_total: int = Field(description="0 while the job is still bootstrapping")
    bytes_done: int
    bytes_total: int
    started_ms: int | None
    finished_ms: int | None


class JobList(BaseModel):
    jobs: list[JobSummary]
    truncated: bool = Field(description="more jobs exist than the listing's bound")


class Settings(BaseModel):
    split_on: str
    lower: bool
    max_attempts: int
    claim_timeout_ms: int
    chunk_bytes: int
    inputs_digest: str


class Worker(BaseModel):
    """A consumer of the job's group, as Redis and this server saw it."""

    name: str
    pending: int = Field(description="tasks delivered to it and not yet committed")
    idle_ms: int = Field(description="since its last read or claim")
    inactive_ms: int | None = Field(description="since its last successful read (Redis 7.2+)")
    tasks_done: int = Field(description="tasks it committed (tallied by the commit function)")
    bytes_done: int
    last_commit_ms: int | None
    bytes_per_s: float | None = Field(
        description="bytes committed per second, from when this server first saw it (or its "
        "first commit, or the job's start) to its last commit"
    )


class Event(BaseModel):
    """One entry of a job's timeline."""

    t_ms: int
    kind: str = Field(description="created, state, worker, stolen, dead, finished")
    text: str


class JobDetail(BaseModel):
    job: JobSummary
    settings: Settings
    pending: int | None = Field(description="delivered and not yet committed")
    undelivered: int | None = Field(description="never delivered to any worker")
    dead: int
    workers: list[Worker]
    timeline: list[Event]


class TaskRow(BaseModel):
    entry: str
    index: int
    path: str
    kind: str
    start: int
    end: int = Field(description="exclusive; -1 means to the end of the file")
    size: int
    state: TaskState
    owner: str | None = None
    idle_ms: int | None = None
    deliveries: int | None = None
    error: str | None = None


class TaskPage(BaseModel):
    tasks: list[TaskRow]
    next: str | None = Field(description="pass as ?after= for the next page; null at the end")


class WordCount(BaseModel):
    word: str
    count: int


class TopWords(BaseModel):
    job: str
    words: list[WordCount]


class SubmitRequest(BaseModel):
    """A word-count job, with the options of ``wordcount run``."""

    model_config = {"extra": "forbid"}

    inputs: list[str] = Field(
        min_length=1, max_length=1000, description="files, directories or globs on shared storage"
    )
    job: str | None = Field(default=None, description="job ID (default: a new one)")
    split_on: Literal["whitespace", "space"] = "whitespace"
    lower: bool = False
    csv_column: str | None = None
    max_attempts: int = Field(default=5, ge=1, le=1000)
    claim_timeout_ms: int = Field(default=10_000, ge=1, le=86_400_000)
    chunk_size: str | None = Field(default=None, description="e.g. 16MB; 0 never splits")


class Problem(BaseModel):
    """Every error answer: what went wrong, and the field or job it is about."""

    detail: str
    field: str | None = None
    job: str | None = None
