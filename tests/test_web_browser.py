"""The status page in a real browser: Debian's headless Chromium driven by Selenium through
Debian's chromedriver (nothing downloaded). A job is made, the page shows it waiting, then
part-way after real commits, then done after a real worker finishes it, with the top words
of the serial count; screenshots are kept under ``.faults/web/`` as the test's artifacts.

Skipped, saying how to install Chromium, where it is missing, except under CI (``$CI``),
where ``scripts/setup`` installs it and a missing browser fails the test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from web_helpers import commit_next, files, make_job, session, web

from engine.plugins import load_engine
from engine.serial import count_tasks, ranked
from engine.tokenize import Tokenizer
from engine.web.server import WebServer

__all__ = ["web"]
ARTIFACTS = Path(__file__).resolve().parents[1] / ".faults" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 60


@pytest.fixture
def browser() -> Iterator[object]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        why = f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(f"{why} (scripts/setup installs them; under CI this test must run)")
        pytest.skip(f"{why}, or run bash scripts/setup")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _text_is(driver: object, element_id: str, expected: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_element(By.ID, element_id).text == expected)  # type: ignore[attr-defined]


def test_page_shows_a_job_progress_then_finish(
    browser: object, web: WebServer, redis_client: redis.Redis, job_id: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT_S)  # type: ignore[arg-type]
    tasks = files(tmp_path, 6, words_per_file=400)
    keys = make_job(redis_client, job_id, tasks)
    driver.get(f"{web.url}/?job={job_id}")  # type: ignore[attr-defined]
    wait.until(lambda d: _text_is(d, "job-state", "ready"))
    wait.until(lambda d: _text_is(d, "task-text", "0 of 6 tasks"))

    early = session(redis_client, keys, "early-worker")
    for _ in range(3):
        commit_next(early)
    wait.until(lambda d: _text_is(d, "task-text", "3 of 6 tasks"))
    wait.until(lambda d: "early-worker" in d.find_element(By.ID, "workers").text)

    load_engine(None).worker(redis_client, job_id, deadline_s=30, wait_for_job_s=5).run()
    wait.until(lambda d: _text_is(d, "job-state", "done"))
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-finished"))
    expected = ranked(count_tasks(tasks, Tokenizer()))
    first_row = f"{expected[0][0]} {expected[0][1]}"
    wait.until(lambda d: d.find_element(By.ID, "top").text.startswith(first_row))
    assert _text_is(driver, "task-text", "6 of 6 tasks")
    assert "finished: done" in driver.find_element(By.ID, "live").text  # type: ignore[attr-defined]
    _screenshot(driver, "job-done.png")

    driver.get(web.url + "/")  # type: ignore[attr-defined]
    wait.until(lambda d: job_id in d.find_element(By.ID, "jobs").text)
    _screenshot(driver, "job-list.png")


def _screenshot(driver: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    print(f"screenshot: {path}")
