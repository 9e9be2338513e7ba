"""Tables of measurements: printed, written as CSV, and drawn as PNG line plots.

Every experiment ends in one :class:`Table`, so that the CSV, the terminal and the plot
always show the same numbers.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Cell = str | int | float | bool | None


@dataclasses.dataclass
class Table:
    """Rows of one experiment, with the column order to show them in."""

    name: str
    columns: list[str]
    rows: list[dict[str, Cell]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, **row: Cell) -> None:
        self.rows.append(row)

    def column(self, name: str, **where: Cell) -> list[Cell]:
        """The values of one column in the rows that match every ``where`` item."""
        return [row.get(name) for row in self.rows if _matches(row, where)]


def _matches(row: dict[str, Cell], where: dict[str, Cell]) -> bool:
    return all(row.get(key) == value for key, value in where.items())


def fmt(value: Cell) -> str:
    """A cell as a short string: floats with three significant decimals."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def render(table: Table) -> str:
    """The table as aligned text, notes below."""
    header = table.columns
    body = [[fmt(row.get(col)) for col in header] for row in table.rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in
              enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    lines += [f"note: {note}" for note in table.notes]
    return "\n".join(lines)


def write_csv(table: Table, out: Path) -> Path:
    path = out / f"{table.name}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=table.columns, extrasaction="ignore")
        writer.writeheader()
        for row in table.rows:
            writer.writerow({col: fmt(row.get(col)) for col in table.columns})
    return path


@dataclasses.dataclass
class Series:
    """One line of a plot."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    style: str = "o-"


@dataclasses.dataclass
class Plot:
    """What to draw for a table: axes, lines, an optional reference line."""

    title: str
    xlabel: str
    ylabel: str
    series: list[Series]
    logx: bool = False
    logy: bool = False
    hline: float | None = None
    hline_label: str = ""
    categories: list[str] | None = None
    """Set for a bar chart: one bar group per category, one bar per series."""


def write_png(plot: Plot, path: Path) -> Path:
    """Draw with matplotlib's Agg backend: no display needed, same output everywhere."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if plot.categories is not None:
        _draw_bars(ax, plot.series, plot.categories)
    else:
        for series in plot.series:
            ax.plot(list(series.xs), list(series.ys), series.style, label=series.label)
    if plot.hline is not None:
        ax.axhline(plot.hline, color="grey", linestyle="--", linewidth=1, label=plot.hline_label)
    ax.set(title=plot.title, xlabel=plot.xlabel, ylabel=plot.ylabel)
    if plot.logx:
        ax.set_xscale("log")
    if plot.logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if len(plot.series) > 1 or plot.hline_label or plot.categories is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _draw_bars(ax: Any, series: list[Series], categories: list[str]) -> None:
    """Grouped bars: the series' ys are per category, in the order of ``categories``."""
    width = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        xs = [x + i * width for x in range(len(s.ys))]
        ax.bar(xs, list(s.ys), width=width, label=s.label)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(categories))], categories, fontsize=8)
