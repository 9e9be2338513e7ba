"""Lab client: puts every input file into a Redis stream, then runs the workers.

Running it again after a crash is safe: the consumer group is created once and each file
gets a fixed stream ID, so a second run adds nothing twice.
"""

import glob
import json
import os
import subprocess
import sys
import time

import redis

STREAM = "files"
GROUP = "workers"


def load_config():
    with open(os.environ.get("WC_CONFIG", "config.json")) as f:
        return json.load(f)


def connect(config):
    r = config["redis"]
    return redis.Redis(host=r["host"], port=r["port"], password=r.get("password"))


def retry(call, *args):
    """Redis may be restarting: try again for up to a minute."""
    for _ in range(600):
        try:
            return call(*args)
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(0.1)
    return call(*args)


def add_file(rds, number, path):
    try:
        rds.xadd(STREAM, {"path": path}, id=f"{number}-1")
    except redis.ResponseError as e:
        if "equal or smaller" not in str(e):
            raise  # anything but "already added by an earlier run"


def bootstrap(rds, files):
    try:
        retry(lambda: rds.xgroup_create(STREAM, GROUP, id="0", mkstream=True))
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise
    with open("mylib.lua") as f:
        code = f.read()
    retry(lambda: rds.function_load(code, replace=True))
    for number, path in enumerate(files, start=1):
        retry(add_file, rds, number, path)


def main():
    config = load_config()
    files = sorted(glob.glob(config["data"]))
    bootstrap(connect(config), files)
    workers = [subprocess.Popen([sys.executable, "worker.py"]) for _ in range(config["workers"])]
    for w in workers:
        w.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
