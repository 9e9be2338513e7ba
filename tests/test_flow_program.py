"""Dataflow programs without Redis: validation messages, the serial interpreter's
semantics on hand-computed cases, and the stage planner."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from engine.cli import main
from engine.flow.inputs import parse_pairs
from engine.flow.interpret import interpret
from engine.flow.plan import partition_of, plan_stages
from engine.flow.program import ProgramError, parse_program

SEED = {
    "partitions": 2,
    "input": "input.csv",
    "operations": [
        {"operator": "map", "function": "ADD", "arg": 6},
        {"operator": "reduce", "function": "ADD"},
    ],
}


def ops(*spec: tuple[str, str, int | None]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for operator, function, arg in spec:
        out.append(
            {"operator": operator, "function": function} | ({} if arg is None else {"arg": arg})
        )
    return out


def run(operations: list[dict[str, object]], pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return interpret(parse_program({"partitions": 1, "operations": operations}), pairs)


def test_seed_example_by_hand() -> None:
    pairs = [(1, 2), (1, 3), (2, -10)]
    assert interpret(parse_program(SEED), pairs) == [(1, 17), (2, -4)]


def test_change_key_takes_the_new_key_from_the_value() -> None:
    assert run(ops(("changeKey", "MOD", 3)), [(100, 7), (200, -1)]) == [(1, 7), (2, -1)]


def test_division_floors_like_python() -> None:
    assert run(ops(("map", "DIV", 2), ("map", "MOD", -3)), [(0, -7)]) == [(0, -4 % -3)]
    assert run(ops(("map", "DIV", 2)), [(0, -7)]) == [(0, -4)]


def test_reduce_sub_is_a_left_fold_over_sorted_values() -> None:
    assert run(ops(("reduce", "SUB", None)), [(1, 5), (1, -2), (1, 10)]) == [(1, -2 - 5 - 10)]
    assert run(ops(("reduce", "SUB", None)), [(4, 9)]) == [(4, 9)]


def test_reduce_functions() -> None:
    pairs = [(1, 4), (1, -3), (2, 7)]
    assert run(ops(("reduce", "MUL", None)), pairs) == [(1, -12), (2, 7)]
    assert run(ops(("reduce", "MIN", None)), pairs) == [(1, -3), (2, 7)]
    assert run(ops(("reduce", "MAX", None)), pairs) == [(1, 4), (2, 7)]
    assert run(ops(("reduce", "COUNT", None)), pairs) == [(1, 2), (2, 1)]


def test_big_integers_stay_exact() -> None:
    big = 10**30 + 7
    out = run(ops(("map", "MUL", big), ("reduce", "PRODUCT", None)), [(1, big), (1, 3)])
    assert out == [(1, big * big * 3 * big)]


def test_stages_cut_only_at_a_reduce_after_a_key_change() -> None:
    program = parse_program(
        {
            "partitions": 3,
            "operations": ops(
                ("reduce", "SUM", None),
                ("map", "NEG", None),
                ("reduce", "MAX", None),
                ("changeKey", "ADD", 1),
                ("map", "ADD", 1),
                ("reduce", "SUM", None),
                ("changeKey", "IDENTITY", None),
            ),
        }
    )
    assert [len(s) for s in plan_stages(program)] == [5, 2]
    assert len(plan_stages(parse_program({"partitions": 1}))) == 1


def test_partition_hash_is_stable() -> None:
    # CRC-32 of the decimal key: the same in every process, unlike the salted hash().
    assert partition_of(12345, 7) == zlib.crc32(b"12345") % 7
    assert partition_of(-(10**40), 5) == zlib.crc32(b"-1" + b"0" * 40) % 5


@pytest.mark.parametrize(
    ("program", "path", "hint"),
    [
        ({"partitions": 0}, "$.partitions", "from 1 to"),
        ({"partitions": "2"}, "$.partitions", "integer"),
        (
            {"partitions": 2, "operations": [{"operator": "filter", "function": "ADD"}]},
            "$.operations[0].operator",
            "map, changeKey, reduce",
        ),
        (
            {"partitions": 2, "operations": ops(("map", "ADD", 1), ("map", "POW", 2))},
            "$.operations[1].function",
            "ADD, SUB",
        ),
        (
            {"partitions": 2, "operations": ops(("map", "ADD", None))},
            "$.operations[0].arg",
            "needs an integer arg",
        ),
        (
            {"partitions": 2, "operations": ops(("changeKey", "DIV", 0))},
            "$.operations[0].arg",
            "non-zero",
        ),
        (
            {"partitions": 2, "operations": ops(("map", "MOD", 0))},
            "$.operations[0].arg",
            "non-zero",
        ),
        (
            {"partitions": 2, "operations": [{"operator": "map", "function": "ADD", "arg": 1.5}]},
            "$.operations[0].arg",
            "not an integer",
        ),
        (
            {"partitions": 2, "operations": ops(("reduce", "DIV", None))},
            "$.operations[0].function",
            "refused",
        ),
        (
            {"partitions": 2, "operations": ops(("reduce", "NEG", None))},
            "$.operations[0].function",
            "SUM, PRODUCT",
        ),
        ({"partitions": 2, "operations": {}}, "$.operations", "list"),
        ({"partitions": 2, "extra": 1}, "$.extra", "allowed"),
        ([], "$", "object"),
    ],
)
def test_validation_names_the_json_path(program: object, path: str, hint: str) -> None:
    with pytest.raises(ProgramError) as caught:
        parse_program(program)
    assert str(caught.value).startswith(f"{path}:")
    assert hint in str(caught.value)


def test_input_must_be_integer_pairs() -> None:
    assert parse_pairs("k,v\n1, 2\n\n-3,4\n", "x.csv") == [(1, 2), (-3, 4)]
    with pytest.raises(Exception, match=r"x.csv line 2: '1,a' is not a pair of integers"):
        parse_pairs("1,2\n1,a\n", "x.csv")
    with pytest.raises(Exception, match="line 1: '1,2,3' has 3 fields"):
        parse_pairs("1,2,3\n", "x.csv")


def _cli(
    tmp_path: Path, program: object, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(program))
    code = main(["flow", "run", str(path), "--redis-url", "redis://127.0.0.1:1", *extra])
    return code, capsys.readouterr().err


def test_cli_refuses_bad_programs_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The Redis URL points nowhere: validation must stop the run before it is needed.
    code, err = _cli(
        tmp_path, {"partitions": 2, "input": "in.csv", "operations": ops(("map", "DIV", 0))}, capsys
    )
    assert code == 2 and err.startswith("error: ") and "$.operations[0].arg: 0" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    code, err = _cli(tmp_path, {"partitions": 2}, capsys)
    assert code == 2 and "$.input: missing" in err and "--input" in err
    code, err = _cli(tmp_path, {"partitions": 2, "input": "missing.csv"}, capsys)
    assert code == 2 and "missing.csv does not exist" in err and "--input" in err
    (tmp_path / "bad.csv").write_text("1,2\nx,y\n")
    code, err = _cli(tmp_path, {"partitions": 2, "input": "bad.csv"}, capsys)
    assert code == 2 and "bad.csv line 2: 'x,y' is not a pair of integers" in err
    (tmp_path / "p2.json").write_text("{not json")
    assert main(["flow", "check", str(tmp_path / "p2.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
