"""What makes a CSV input malformed, and how that is reported.

A parse error is a property of the file, not of an attempt: the workers and the serial
reference must both refuse the same files with the same message, at the first attempt,
instead of one counting a file the other dead-letters after five tracebacks. Both read
CSV with Python's ``csv`` module in strict mode (each its own way: the reference the whole
text at once, the workers row by row) and both refuse:

- a quoted field still open at the end of the file (an unterminated quote), or a quote
  closed in the middle of a field (``"ab"c``): what the strict parser rejects;
- a row with more fields than the header: its extra cells belong to no column.

Rows are numbered from 1 after the header; the line is the file's line where the row
starts, so an unterminated quote is reported where it was opened.
"""

from __future__ import annotations

import csv
import sys

from engine.errors import InputError

csv.field_size_limit(sys.maxsize)  # a long text cell is text, not a malformed row


class MalformedCsvError(InputError):
    """A CSV input cannot be parsed; retrying cannot help."""


def malformed(path: str, row: int, line: int, reason: str) -> MalformedCsvError:
    """The one message both readers give for a malformed row."""
    return MalformedCsvError(
        f"{path} is not valid CSV at row {row} (line {line}): {reason}; fix the row "
        "(close the quote, quote the cell, or drop the extra fields) or leave the file out"
    )


def too_many_fields(path: str, row: int, line: int, found: int, header: int) -> MalformedCsvError:
    return malformed(path, row, line, f"{found} fields where the header has {header}")


def parse_failure(path: str, row: int, line: int, exc: csv.Error) -> MalformedCsvError:
    text = str(exc)
    if "unexpected end of data" in text:
        text = "a quote opened in this row is never closed"
    return malformed(path, row, line, text)
