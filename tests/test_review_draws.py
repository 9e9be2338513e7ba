"""The draws of faults/review_draws.py reach the regions of issue 11's bugs, and fit their
faults to embedded mode. Draws only: no Redis (the runs are tests/test_property.py's, and
benchmarks/teeth.py's hunts of the variants; docs/teeth.md)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, settings

from engine import crashpoints as cp
from engine.worker import MAX_PAIRS_PER_CALL
from faults import scenario_json
from faults.errors import ScenarioError
from faults.families import families
from faults.files import Dataset, FileSpec, all_files
from faults.kinds import DRIVER_POINTS
from faults.review_draws import DISTINCT_WORDS, ROBBED, ROBBED_WORDS, Review, review
from faults.scenario import Fault, Scenario, Settings

CAP = DISTINCT_WORDS[0] + 20_000
"""Just past the smallest distinct-words file: cheap to generate."""
FIND = settings(max_examples=2000, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))  # fmt: skip


def test_embedded_draws_kill_the_drivers_redis_inside_a_driver_call() -> None:
    find(review(CAP), lambda r: r.embedded and any(
        point in DRIVER_POINTS and kind == "redis-kill" for point, _, kind in r.extra),
        settings=FIND)  # fmt: skip


def test_distinct_words_draws_split_a_staged_batch_before_its_commit() -> None:
    found = find(review(CAP), lambda r: r.dataset is not None and bool(r.chunk_bytes)
                 and r.busy_ms > 0 and any(p == cp.WORKER_BEFORE_COMMIT for p, _, _ in r.extra),
                 settings=FIND)  # fmt: skip
    assert found.dataset is not None
    (text,) = all_files(found.dataset)
    assert len(set(text.data.split())) > MAX_PAIRS_PER_CALL  # the batch is staged
    scenario = Scenario(name="t", dataset=found.dataset,
                        settings=Settings(chunk_bytes=found.chunk_bytes or 0))  # fmt: skip
    assert scenario.n_tasks() >= 2


def test_an_interrupted_staged_batch_has_two_thieves_to_race_for_its_tasks() -> None:
    """Bug 5 needs a stolen batch split between thieves: its owner and two more workers,
    and at least two tasks (it took 11 minutes to find before this rule)."""
    family = families(CAP)["worker-faults"]
    drawn = find(family, lambda s: (made := s.dataset.generated) is not None
                 and made.vocabulary == made.words >= DISTINCT_WORDS[0]
                 and any(f.trigger.point == cp.WORKER_BEFORE_COMMIT for f in s.faults),
                 settings=FIND)  # fmt: skip
    assert drawn.workers >= 3
    assert drawn.n_tasks() >= 2


def test_a_stop_until_robbed_splits_pieces_each_past_the_staging_threshold() -> None:
    """Bug 5's region: the thief's batch of one piece is staged, in fewer parts than the
    stopped worker's batch of several (tests/scenarios/stolen-batch-split-between-
    attempts.json is such a draw)."""
    found = find(review(ROBBED_WORDS[0] + 10_000), lambda r: any(
        kind == ROBBED for _, _, kind in r.extra), settings=FIND)  # fmt: skip
    assert found.dataset is not None and found.workers == 2
    scenario = Scenario(name="t", dataset=found.dataset,
                        settings=Settings(chunk_bytes=found.chunk_bytes or 0))  # fmt: skip
    assert scenario.n_tasks() >= 3
    (text,) = all_files(found.dataset)
    assert len(set(text.data.split())) // scenario.n_tasks() > MAX_PAIRS_PER_CALL


def test_the_families_draw_embedded_mode() -> None:
    find(families(0)["any-faults"], lambda s: s.settings.embedded, settings=FIND)


def test_embedded_mode_has_no_driver_crash_and_no_wipe() -> None:
    drawn = tuple(Fault.parse(f) for f in (
        "driver.bootstrap#1:crash", "driver.bootstrap#2:redis-snapshot",
        "commit#1:redis-wipe=100", "worker.after_read#1:crash"))  # fmt: skip
    fitted = Review(embedded=True).adjust(drawn, ("crash", "redis-wipe", "redis-snapshot",
                                                  "redis-kill"), 300)  # fmt: skip
    assert [str(f) for f in fitted] == [
        "driver.bootstrap#2:redis-snapshot", "commit#1:redis-kill=100",
        "worker.after_read#1:crash",
    ]  # fmt: skip
    assert Review(embedded=False).adjust(drawn, ("crash",), 300) == drawn


def test_new_settings_round_trip_and_stay_out_of_old_files() -> None:
    base = Scenario(name="t", dataset=Dataset(files=(FileSpec("a.txt", b"a b"),)))
    assert '"embedded"' not in scenario_json.dump(base)
    assert '"busy_ms"' not in scenario_json.dump(base)
    for changed in ({"embedded": True}, {"busy_ms": 50}):
        scenario = base.__class__(**{**base.__dict__, "settings": Settings(
            **{**base.settings.__dict__, **changed})})  # fmt: skip
        assert scenario_json.load(scenario_json.dump(scenario)) == scenario


def test_a_busy_threshold_needs_an_external_redis() -> None:
    with pytest.raises(ScenarioError, match="busy_ms"):
        Settings(embedded=True, busy_ms=50)
