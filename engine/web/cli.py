"""``wordcount serve`` and ``wordcount run ... --serve PORT``.

FastAPI and uvicorn are imported only when a server starts, so ``run`` without
``--serve`` costs nothing more. The token comes from a file or the environment, never
from the command line, where ``ps`` would show it to every user of the host.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from engine.errors import ConfigError
from engine.supervisor import URL_ENV

TOKEN_ENV = "WORDCOUNT_API_TOKEN"
SERVE_ENV = "WORDCOUNT_SERVE_PORT"
"""The default of ``run --serve``: how ``faults replay --serve`` reaches the driver it starts."""
DRAIN_S = 3.0
"""How long ``run --serve`` waits at the end for open pages to get the last events."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.cli import _redis_option  # the same Redis options as every other command

    serve = sub.add_parser("serve", help="HTTP API and live status page for the jobs in a Redis")
    _redis_option(serve, "required")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument(
        "--token-file",
        metavar="FILE",
        help=f"file holding the token that POST and DELETE need (default: ${TOKEN_ENV}; "
        "without either, writing is off)",
    )
    serve.set_defaults(func=cmd_serve)


def add_run_option(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--serve",
        type=int,
        default=os.environ.get(SERVE_ENV) or None,
        metavar="PORT",
        help=f"serve the status page and API on 127.0.0.1:PORT while the job runs "
        f"(default: ${SERVE_ENV}, else not at all)",
    )


def read_token(path: str | None) -> str | None:
    if path is None:
        return os.environ.get(TOKEN_ENV) or None
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"--token-file {path}: {exc.strerror or exc}") from exc
    if not token:
        raise ConfigError(f"--token-file {path} is empty: put the token in it")
    return token


def _import_server() -> type:
    try:
        from engine.web.server import WebServer
    except ImportError as exc:
        raise ConfigError(
            f"the web server needs FastAPI and uvicorn ({exc}): run `bash scripts/setup`, "
            "or pip install 'redis-wordcount[web]'"
        ) from exc
    return WebServer


def cmd_serve(args: argparse.Namespace) -> int:
    from engine import connection
    from engine.web.app import WebConfig

    if not args.redis_url:
        raise ConfigError(f"no Redis given: pass --redis-url URL or set ${URL_ENV}")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: use a port from 1 to 65535 (0: any free one)")
    connection.connect(args.redis_url)  # a malformed URL is an error line, not a 503 later
    config = WebConfig(args.redis_url, token=read_token(args.token_file))
    server = _import_server()(config, args.host, args.port)
    writing = "on (token set)" if config.token else f"off (set ${TOKEN_ENV} to allow it)"
    print(f"serving {server.url}/ for Redis at {connection.redact(args.redis_url)}; "
          f"POST/DELETE {writing}", file=sys.stderr)  # fmt: skip
    server.serve_forever()
    return 0


def run_hook(args: argparse.Namespace) -> Callable[[str, str], Callable[[], None]] | None:
    """For ``run --serve PORT``: a callback the driver calls with its Redis URL and job ID
    once Redis answers. It starts the server on a thread and returns what the driver calls
    at the end: let open pages receive the job's last events, then stop."""
    port = getattr(args, "serve", None)
    if port is None:
        return None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--serve {port}: use a port from 1 to 65535")
    server_class = _import_server()

    def start(url: str, job_id: str) -> Callable[[], None]:
        from engine.web.app import WebConfig

        server = server_class(WebConfig(url, token=read_token(None)), "127.0.0.1", port)
        server.start()
        print(f"watch the job at {server.url}/?job={job_id}", file=sys.stderr, flush=True)

        def stop() -> None:
            server.drain(DRAIN_S)
            server.stop()

        return stop

    return start
