"""The grade as text (terminal), JUnit XML (CI) and a markdown page per submission, and
one summary table when several submissions are graded together."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from faults.grade.explain import explain
from faults.grade.grade import Grade
from faults.grade.options import GradeOptions
from faults.grade.search import PROPERTIES, PropertyResult

STATUS = {0: "PASS", 1: "FAIL", 2: "CANNOT RUN"}


def counterexample(result: PropertyResult, options: GradeOptions) -> str:
    if result.failure is None:
        return ""
    run, verdict = result.failure
    return explain(run, verdict, run.per_file)


def property_line(result: PropertyResult, options: GradeOptions) -> tuple[str, str, str]:
    """(verdict, name, detail) for one property."""
    name = PROPERTIES.get(result.prop, result.prop)
    if result.skipped:
        return "SKIP", name, result.skipped
    if result.failure is None:
        return "PASS", name, f"{result.examples} examples, {result.seconds:.0f} s"
    first = (
        f"failed at example {result.first_failure_examples} after "
        f"{result.first_failure_s or 0:.1f} s"
    )
    return "FAIL", name, f"{first}. {counterexample(result, options)}"


def text(grade: Grade, options: GradeOptions) -> str:
    head = f"{grade.submission}: {STATUS[grade.exit_code]} ({grade.seconds:.0f} s)"
    if grade.error:
        return f"{head}\n  cannot run: {grade.error}"
    lines = [head]
    for result in grade.properties:
        verdict, name, detail = property_line(result, options)
        lines.append(f"  {verdict:<4}  {name}: {detail}")
        if result.prop in grade.saved:
            lines.append(f"        replay: faults replay {grade.saved[result.prop]}")
    return "\n".join(lines)


def markdown(grade: Grade, options: GradeOptions) -> str:
    lines = [f"# {Path(grade.submission).name}: {STATUS[grade.exit_code]}", ""]
    if grade.error:
        return "\n".join([*lines, f"The submission cannot be run: {grade.error}", ""])
    lines += ["| property | verdict | detail |", "|---|---|---|"]
    for result in grade.properties:
        verdict, name, detail = property_line(result, options)
        lines.append(f"| {name} | {verdict} | {detail.replace('|', '/')} |")
    for prop, path in grade.saved.items():
        lines.append(f"\n`faults replay {path}` replays the {PROPERTIES[prop]} counterexample.")
    return "\n".join([*lines, f"\nGraded in {grade.seconds:.0f} s.", ""])


def summary(grades: list[Grade]) -> str:
    """One row per submission, one column per property."""
    header = "| submission | result | " + " | ".join(PROPERTIES.values()) + " |"
    lines = [header, "|" + "---|" * (len(PROPERTIES) + 2)]
    for grade in grades:
        verdicts = {
            r.prop: ("pass" if r.ok else "skip" if r.skipped else "**FAIL**")
            for r in grade.properties
        }
        cells = [verdicts.get(p, "-") for p in PROPERTIES]
        lines.append(
            f"| {Path(grade.submission).name} | {STATUS[grade.exit_code]} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def junit(grades: list[Grade], options: GradeOptions) -> str:
    suites = ET.Element("testsuites", name="faults grade")
    for grade in grades:
        name = Path(grade.submission).name
        suite = ET.SubElement(suites, "testsuite", name=name, time=f"{grade.seconds:.1f}")
        if grade.error:
            case = ET.SubElement(suite, "testcase", classname=name, name="can be run")
            ET.SubElement(case, "error", message=grade.error)
        for result in grade.properties:
            verdict, prop, detail = property_line(result, options)
            case = ET.SubElement(
                suite, "testcase", classname=name, name=prop, time=f"{result.seconds:.1f}"
            )
            if verdict == "FAIL":
                ET.SubElement(case, "failure", message=detail).text = detail
            elif verdict == "SKIP":
                ET.SubElement(case, "skipped", message=detail)
        failures = sum(not r.ok and not r.skipped for r in grade.properties)
        suite.set("tests", str(len(grade.properties) + bool(grade.error)))
        suite.set("failures", str(failures))
        suite.set("errors", str(int(bool(grade.error))))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
