"""What every experiment receives: the scale, the output directory, the other results.

Experiments may use each other's results (``ratios`` reads the peers, skew, straggler and
memory tables), so results are kept by name and each experiment runs at most once per
invocation: the ratios of ``all`` are the very numbers the other tables show.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import Plot, Table, render, write_csv, write_png
from benchmarks.runs import BenchError
from benchmarks.scale import Scale


@dataclasses.dataclass
class Result:
    table: Table
    plot: Plot | None = None


Experiment = Callable[["Context"], Result]


@dataclasses.dataclass
class Context:
    scale: Scale
    out: Path
    experiments: dict[str, Experiment]
    results: dict[str, Result] = dataclasses.field(default_factory=dict)
    errors: dict[str, Exception] = dataclasses.field(default_factory=dict)
    quiet: bool = False

    def get(self, name: str) -> Result:
        """The result of an experiment, running it (and writing its files) if needed.

        An experiment that failed is not run again: its error is raised again."""
        if name in self.errors:
            raise self.errors[name]
        if name not in self.results:
            self.log(f"== {name} ({self.scale.name})")
            start = time.perf_counter()
            try:
                result = self.experiments[name](self)
            except Exception as exc:  # any error: one that only a caller saw was lost once
                self.errors[name] = exc
                what = "" if isinstance(exc, BenchError) else f"{type(exc).__name__}: "
                print(f"\n[{name}] FAILED: {what}{exc}\n", flush=True)
                raise
            self.results[name] = result
            self._write(result)
            self.log(f"   {name} took {time.perf_counter() - start:.1f} s")
        return self.results[name]

    def _write(self, result: Result) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        write_csv(result.table, self.out)
        if result.plot is not None:
            write_png(result.plot, self.out / f"{result.table.name}.png")
        print(f"\n[{result.table.name}]\n{render(result.table)}\n", flush=True)

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)
