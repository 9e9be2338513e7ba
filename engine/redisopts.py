"""Where the command line finds the Redis URL, so that a password need never be in argv.

A password in ``--redis-url`` is readable by every local user in ``ps`` and
``/proc/PID/cmdline`` for as long as the command runs. The same URL can come from
``$WORDCOUNT_REDIS_URL`` or from a file (``--redis-url-file``, best kept mode 0600), and
the password alone from ``$WORDCOUNT_REDIS_PASSWORD``, which fills in a URL that has none.
The driver hands its workers the URL through the environment, never their argv.
"""

from __future__ import annotations

import argparse
import os
import urllib.parse

from engine import cluster_url
from engine.connection import parse_url
from engine.errors import ConfigError
from engine.sentinel_url import is_sentinel_url
from engine.supervisor import URL_ENV

PASSWORD_ENV = "WORDCOUNT_REDIS_PASSWORD"


def add_options(parser: argparse.ArgumentParser, required_help: str) -> None:
    """``--redis-url`` and ``--redis-url-file``; :func:`resolve` makes them one URL."""
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help=f"redis://[[user]:password@]host:port[/db], rediss://..., redis+sentinel://... or "
        f"redis+cluster://host:port[,host:port...] ({required_help}; "
        f"default: ${URL_ENV}). A password here shows in ps: prefer ${URL_ENV}, "
        f"--redis-url-file or ${PASSWORD_ENV}",
    )
    parser.add_argument(
        "--redis-url-file",
        metavar="FILE",
        help="read the Redis URL from the first line of FILE (keep it private: chmod 600)",
    )


def resolve(args: argparse.Namespace) -> str | None:
    """The URL from ``--redis-url``, ``--redis-url-file`` or the environment, with the
    password from ``$WORDCOUNT_REDIS_PASSWORD`` filled in if the URL has none."""
    if args.redis_url and args.redis_url_file:
        raise ConfigError("give --redis-url or --redis-url-file, not both")
    url = args.redis_url or _read_url_file(args.redis_url_file) or os.environ.get(URL_ENV)
    if not url:
        return None
    password = os.environ.get(PASSWORD_ENV)
    if password and not is_sentinel_url(url) and _password_of(url) is None:
        url = with_password(url, password)
    return url


def _password_of(url: str) -> str | None:
    if cluster_url.is_cluster_url(url):
        return cluster_url.parse(url).password
    return parse_url(url).password


def _read_url_file(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            url = handle.readline().strip()
    except OSError as exc:
        raise ConfigError(
            f"--redis-url-file {path}: {exc.strerror or exc}; give a readable file "
            "whose first line is the URL"
        ) from exc
    if not url:
        raise ConfigError(f"--redis-url-file {path} is empty: write the URL on its first line")
    return url


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` as its login's password (quoted for the URL)."""
    scheme, _, rest = url.partition("://")
    login, at, hostport = rest.rpartition("@")
    user = login.partition(":")[0] if at else ""
    secret = urllib.parse.quote(password, safe="")
    return f"{scheme}://{user}:{secret}@{hostport}"
