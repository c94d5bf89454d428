"""Reading an import file (CSV): rows with their line numbers, and every bad row reported.

An import is all or nothing: ``read_csv`` refuses a file that is not UTF-8 CSV with the
expected header, and ``parse_rows`` turns each row into a value, collecting what is wrong
with every bad row (by its line in the file) before refusing the whole file, so an
import function only writes once every row has parsed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

from advice_line.lifecycle.errors import DomainError, InvalidInput

T = TypeVar("T")
#: More rows than any force or rota export has: a bigger file is refused, not read.
MAX_ROWS = 20_000
MAX_BYTES = 5_000_000


class ImportRejected(DomainError):
    """The file was refused; ``problems`` lists (line, what is wrong), line 1 the header."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = list(problems)
        shown = "; ".join(f"line {line}: {problem}" for line, problem in self.problems[:20])
        more = len(self.problems) - 20
        super().__init__(
            f"Nothing was imported. {shown}" + (f"; and {more} more." if more > 0 else ".")
        )


@dataclass(frozen=True)
class Row:
    """One data row: its line in the file and its values by column (stripped)."""

    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        """Return the column's value, '' if the column is absent or empty."""
        return self.values.get(column, "")


def read_csv(
    data: bytes | str, *, required: Collection[str], optional: Collection[str] = ()
) -> list[Row]:
    """Read a CSV file (UTF-8, with or without a BOM) whose first line names its columns.

    Column names are matched case-insensitively, ignoring spaces at either end. Raises
    ``ImportRejected`` for a file that cannot be read, an unknown or missing column, a
    row with more values than the header, or too many rows.
    """
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise ImportRejected([(0, f"the file is larger than {MAX_BYTES // 1_000_000} MB")])
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ImportRejected([(0, f"the file is not UTF-8 text ({error.reason})")]) from None
    if "\x00" in data:
        raise ImportRejected([(0, "the file is not a CSV text file")])
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ImportRejected(
            [(1, "the file is empty; the first line must name the columns")]
        ) from None
    except csv.Error as error:
        raise ImportRejected([(1, f"not CSV: {error}")]) from None
    known = {*required, *optional}
    problems = [(1, f"unknown column {name!r}") for name in header if name not in known]
    problems += [(1, f"missing column {name!r}") for name in required if name not in header]
    if len(set(header)) != len(header):
        problems.append((1, "a column is named twice"))
    if problems:
        raise ImportRejected(problems)
    rows: list[Row] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(values) > len(header):
                problems.append((line, f"{len(values)} values for {len(header)} columns"))
                continue
            rows.append(
                Row(
                    line, {name: value.strip() for name, value in zip(header, values, strict=False)}
                )
            )
            if len(rows) > MAX_ROWS:
                raise ImportRejected([(line, f"more than {MAX_ROWS} rows")])
    except csv.Error as error:
        problems.append((reader.line_num, f"not CSV: {error}"))
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise ImportRejected([(2, "the file has a header but no rows")])
    return rows


def parse_rows(rows: Sequence[Row], parse: Callable[[Row], T]) -> list[T]:
    """Parse every row; if any is bad (``InvalidInput`` or ``ValueError``), refuse them all."""
    parsed: list[T] = []
    problems: list[tuple[int, str]] = []
    for row in rows:
        try:
            parsed.append(parse(row))
        except InvalidInput as error:
            problems.extend(
                (row.line, f"{field}: {message}") for field, message in error.errors.items()
            )
        except ValueError as error:
            problems.append((row.line, str(error)))
    if problems:
        raise ImportRejected(problems)
    return parsed
