"""What watching a job over HTTP costs the job: the same job with and without a status page.

    python -m benchmarks.web_overhead [--mb 64] [--files 64] [--pairs 3] [--idle-s 5]

Starts one local Redis and ``wordcount serve`` as its own process, then runs the same job
(the Gutenberg books repeated to ``--mb``, 2 workers) in interleaved pairs: alone, and with
a client doing what the status page does (the event stream of the job, its tasks and top
words every 0.4 s, the job list every second). Prints each pair's wall times and the
ratio, and, as figures the machine's noise cannot blur, the Redis CPU time the server's
reads of a job take per second of watching (from ``INFO commandstats``, on a job that
stands still so that every command counted is the server's) and the CPU time of the
``serve`` process itself meanwhile.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

import httpx
import psutil
import redis

from benchmarks.corpus import gutenberg_base
from engine import connection
from engine.driver import RunOptions, run
from engine.job import JobSettings, bootstrap
from engine.keys import JobKeys
from engine.nodes.factory import make_node
from engine.supervisor import URL_ENV
from engine.tasks import Task


class PageClient:
    """Requests what the status page makes while a job page is open, until stopped."""

    def __init__(self, base: str, job_id: str) -> None:
        self.base, self.job_id = base, job_id
        self.stop = threading.Event()
        self.requests = 0
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._events, self._poll)]

    def __enter__(self) -> PageClient:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _events(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while not self.stop.is_set():
                with http.stream("GET", f"/jobs/{self.job_id}/events") as answer:
                    if answer.status_code != 200:  # not bootstrapped yet
                        time.sleep(0.05)
                        continue
                    for line in answer.iter_lines():
                        self.requests += line.startswith("event: ")
                        if self.stop.is_set() or line == "event: end":
                            return

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            tick = 0
            while not self.stop.wait(0.4):
                http.get(f"/jobs/{self.job_id}/tasks", params={"limit": 15})
                http.get(f"/jobs/{self.job_id}/top", params={"k": 20})
                if tick % 3 == 0:
                    http.get("/jobs")
                self.requests += 2 + (tick % 3 == 0)
                tick += 1


def one_run(url: str, paths: list[str], job_id: str) -> float:
    started = time.perf_counter()
    run(RunOptions(paths=paths, workers=2, redis_url=url, job_id=job_id, progress=False))
    return time.perf_counter() - started


def redis_usec(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["usec"]) for v in stats.values())


def idle_cost(client: redis.Redis, base: str, seconds: float) -> tuple[float, int]:
    """Redis CPU (us per second of watching) and requests made, on a job that stands still."""
    keys = JobKeys(f"idle-{os.getpid()}")
    tasks = [Task(i, f"/nowhere/{i}.txt", size=1000) for i in range(200)]
    bootstrap(client, keys, JobSettings(), tasks)
    client.xreadgroup("workers", "someone", {keys.tasks: ">"}, count=20)
    before = redis_usec(client)
    with PageClient(base, keys.job_id) as page:
        time.sleep(seconds)
    used = redis_usec(client) - before
    return used / seconds, page.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=64, help="input size")
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=3, help="runs with and without, interleaved")
    parser.add_argument("--idle-s", type=float, default=5.0)
    args = parser.parse_args()
    paths = [str(p) for p in gutenberg_base(args.mb << 20, args.files)]
    node = make_node("process")
    node.start()
    server = None
    try:
        env = {**os.environ, URL_ENV: node.url}
        server = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", "0"],
            env=env, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = server.stderr.readline() if server.stderr else ""
        base = line.split()[1].rstrip("/")
        client = connection.connect(node.url)
        serving = psutil.Process(server.pid)
        cpu_before = sum(serving.cpu_times()[:2])
        us_per_s, requests = idle_cost(client, base, args.idle_s)
        server_share = (sum(serving.cpu_times()[:2]) - cpu_before) / args.idle_s * 100
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        share = us_per_s / 1e4
        rate = requests / args.idle_s
        print(f"Redis CPU for the server's reads: {us_per_s:.0f} us per second of watching "
              f"({share:.3f} % of one core), {rate:.1f} answers/s")  # fmt: skip
        print(f"CPU of the serve process meanwhile: {server_share:.1f} % of one core")
        ratios = []
        for pair in range(args.pairs):
            alone = one_run(node.url, paths, f"alone-{pair}")
            with PageClient(base, f"watched-{pair}") as page:
                watched = one_run(node.url, paths, f"watched-{pair}")
            ratios.append(watched / alone)
            print(f"pair {pair}: alone {alone:.2f} s, watched {watched:.2f} s "
                  f"({page.requests} answers), ratio {watched / alone:.3f}")  # fmt: skip
        print(f"ratio watched/alone: median {statistics.median(ratios):.3f}, "
              f"min {min(ratios):.3f}, max {max(ratios):.3f}; "
              f"load average after: {os.getloadavg()[0]:.2f}")  # fmt: skip
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        node.close()


if __name__ == "__main__":
    main()
