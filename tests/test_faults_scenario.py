"""Scenarios as data: exact JSON round trips, the fault syntax, validation messages, and
generation as a pure function of its seed. No Redis needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults import scenario_json
from faults.dataset import generate_files, reference
from faults.errors import ScenarioError
from faults.generate import generate_scenario
from faults.scenario import (
    Action,
    Dataset,
    Expect,
    Fault,
    FileSpec,
    Generated,
    Scenario,
    Settings,
    Trigger,
)

SCENARIO_DIR = Path(__file__).parent / "scenarios"
SCENARIO_FILES = sorted(SCENARIO_DIR.glob("*.json"))


def full_scenario() -> Scenario:
    """A scenario that sets every field away from its default, with awkward bytes."""
    return Scenario(
        name="every-field",
        description="tab\there, \u00e9, \u65e5\u672c",
        seed=42,
        workers=5,
        timeout_s=12.5,
        liveness_s=7.0,
        settings=Settings(
            claim_timeout_ms=250,
            max_attempts=2,
            persistence="snapshot:150",
            split_on="space",
            lower=True,
            csv_column="text",
            bootstrap_batch=3,
        ),
        dataset=Dataset(
            files=(
                FileSpec("a.txt", b"plain words\n"),
                FileSpec("b.bin", b"\xff\xfe\x00 bad \xc3 bytes \x80"),
                FileSpec("c.csv", b"id,text\n1,hello world\n"),
                FileSpec("empty.txt", b""),
            ),
            generated=Generated(seed=7, files=2, words=50, vocabulary=9, exotic=False, csv_files=1),
        ),
        faults=(
            Fault(Trigger("worker.after_count", 2, 1), Action("slow", 300)),
            Fault(Trigger("commit", 1), Action("redis-kill", 0)),
            Fault(Trigger("driver.bootstrap", 3), Action("crash")),
            Fault(Trigger("worker.before_commit", 4, None), Action("redis-pause", 900)),
        ),
        expect=Expect(dead=(0, 2), allow_dead=True),
    )


def test_json_round_trip_is_exact() -> None:
    scenario = full_scenario()
    text = scenario_json.dump(scenario)
    again = scenario_json.load(text)
    assert again == scenario
    assert scenario_json.dump(again) == text
    assert again.dataset.files[1].data == b"\xff\xfe\x00 bad \xc3 bytes \x80"


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_saved_scenarios_are_canonical(path: Path) -> None:
    """Every regression file reads back to the very same text, and names itself."""
    text = path.read_text(encoding="utf-8")
    scenario = scenario_json.load(text)
    assert scenario_json.dump(scenario) == text
    assert scenario.name == path.stem


def test_hand_written_shorthand_is_accepted() -> None:
    text = json.dumps(
        {
            "name": "short",
            "dataset": {"files": [{"name": "x.txt", "text": "a b a"}]},
            "faults": ["worker.after_count@0#2:slow=40", "commit#1:redis-wipe"],
        }
    )
    scenario = scenario_json.load(text)
    assert scenario.workers == 3
    assert [str(f) for f in scenario.faults] == [
        "worker.after_count@0#2:slow=40",
        "commit#1:redis-wipe",
    ]
    assert scenario_json.load(scenario_json.dump(scenario)) == scenario


@pytest.mark.parametrize(
    "text",
    [
        "worker.after_read#1:crash",
        "worker.after_claim@3#2:hang",
        "commit#5:redis-kill=250",
        "driver.bootstrap#2:raise",
        "driver.before_result#1:redis-snapshot",
    ],
)
def test_fault_syntax_round_trip(text: str) -> None:
    assert str(Fault.parse(text)) == text


def test_fault_syntax_defaults_nth_to_one() -> None:
    assert Fault.parse("worker.after_count:crash") == Fault(
        Trigger("worker.after_count", 1), Action("crash")
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("worker.after_nothing#1:crash", "worker.after_nothing"),
        ("worker.after_read#0:crash", "#0"),
        ("worker.after_read#1:explode", "explode"),
        ("worker.after_read#1:slow", "slow"),
        ("worker.after_read#1:crash=5", "crash"),
        ("driver.bootstrap#1:hang", "hung driver"),
        ("worker after read", "worker after read"),
    ],
)
def test_bad_faults_are_named(text: str, named: str) -> None:
    with pytest.raises(ScenarioError, match=named):
        Fault.parse(text)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"workers": 0}, "workers = 0"),
        ({"settings": {"claim_timeout_ms": "500"}}, "settings.claim_timeout_ms"),
        ({"settings": {"persistence": "sometimes"}}, "sometimes"),
        ({"settings": {"clam_timeout_ms": 5}}, "clam_timeout_ms"),
        ({"dataset": {"files": [{"name": "../up.txt", "text": ""}]}}, "../up.txt"),
        ({"dataset": {"files": [{"name": "a.csv", "text": "x"}]}}, "csv_column"),
        ({"dataset": {"files": [{"name": "a", "text": ""}, {"name": "a", "text": ""}]}}, "repeat"),
        ({"expect": {"dead": [9]}}, "task 9"),
        ({"format": 99}, "format 99"),
    ],
)
def test_bad_scenarios_name_the_value(change: dict[str, object], named: str) -> None:
    data: dict[str, object] = {
        "name": "bad",
        "dataset": {"files": [{"name": "x.txt", "text": "a b"}]},
    }
    data.update(change)
    with pytest.raises(ScenarioError, match=named):
        scenario_json.load(json.dumps(data))


def test_generation_is_a_pure_function_of_the_seed() -> None:
    for seed in range(30):
        first = generate_scenario(seed)
        assert first == generate_scenario(seed)
        assert scenario_json.load(scenario_json.dump(first)) == first
    assert generate_scenario(1) != generate_scenario(2)
    pinned = generate_scenario(5, workers=2, persistence="aof-always", files=3, n_faults=1)
    assert (pinned.workers, pinned.settings.persistence) == (2, "aof-always")
    assert pinned.dataset.generated is not None and pinned.dataset.generated.files == 3
    assert len(pinned.faults) == 1


def test_generated_scenarios_leave_a_worker_to_steal_from_stragglers() -> None:
    for seed in range(200):
        scenario = generate_scenario(seed)
        hangs = sum(f.action.kind == "hang" for f in scenario.faults)
        assert hangs < scenario.workers or hangs == 0


def test_generated_files_are_deterministic_and_exotic() -> None:
    params = Generated(seed=11, files=3, words=200, vocabulary=40, csv_files=1)
    files = generate_files(params)
    assert files == generate_files(params)
    assert [f.name for f in files] == ["gen-000.txt", "gen-001.txt", "gen-002.txt", "gen-000.csv"]
    blob = b"".join(f.data for f in files if f.name.endswith(".txt"))
    with pytest.raises(UnicodeDecodeError):
        blob.decode("utf-8")  # bytes that are not UTF-8 are part of the point
    assert files[-1].data.startswith(b"id,text\n")


def test_reference_counts_follow_task_order() -> None:
    dataset = Dataset(files=(FileSpec("b.txt", b"x y"), FileSpec("a.txt", b"x x")))
    counts = reference(dataset, Settings())
    assert dataset.task_names() == ["a.txt", "b.txt"]
    assert counts == [{"x": 2}, {"x": 1, "y": 1}]
