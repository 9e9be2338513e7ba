"""Lab worker: takes files from the stream, counts their words, commits atomically."""

import json
import os
import sys
import time
from collections import Counter

import redis

STREAM = "files"
GROUP = "workers"
NAME = f"worker-{os.getpid()}"


def load_config():
    with open(os.environ.get("WC_CONFIG", "config.json")) as f:
        return json.load(f)


CONFIG = load_config()
CLAIM_MS = CONFIG.get("claim_timeout_ms", 1000)


def connect():
    r = CONFIG["redis"]
    return redis.Redis(host=r["host"], port=r["port"], password=r.get("password"))


def retry(call, *args):
    """Redis may be restarting: try again for up to a minute."""
    for _ in range(600):
        try:
            return call(*args)
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(0.1)
    return call(*args)


def next_file(rds):
    """A stalled file (its worker died or hangs), else a new one, else None."""
    _, stolen, _ = rds.xautoclaim(STREAM, GROUP, NAME, CLAIM_MS, "0-0", count=1)
    if stolen:
        return stolen[0]
    got = rds.xreadgroup(GROUP, NAME, {STREAM: ">"}, count=1, block=100)
    if got and got[0][1]:
        return got[0][1][0]
    return None


def all_done(rds):
    for group in rds.xinfo_groups(STREAM):
        if group["name"] == GROUP.encode():
            return group["pending"] == 0 and group["lag"] == 0
    return False


def count_words(path):
    with open(path, encoding="utf-8") as f:
        return Counter(f.read().split())


def commit(rds, entry_id, counts):
    args = [GROUP, entry_id]
    for word, n in counts.items():
        args += [word, n]
    return rds.fcall("wc_commit", 2, STREAM, "count", *args)


def main():
    rds = connect()
    while True:
        entry = retry(next_file, rds)
        if entry is None:
            if retry(all_done, rds):
                return 0
            continue
        entry_id, fields = entry
        counts = count_words(fields[b"path"].decode())
        retry(commit, rds, entry_id, counts)


if __name__ == "__main__":
    sys.exit(main())
