"""Errors a user can fix; the entry points print them as one line and exit non-zero."""

from __future__ import annotations


class EtlError(Exception):
    """A problem with the input or the configuration, not a bug."""


class SourceFileError(EtlError):
    """A source file cannot be ingested; the message names file, sheet, row and column."""

    def __init__(
        self,
        file: str,
        problem: str,
        *,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = [f"file {file}"]
        if sheet is not None:
            where.append(f"sheet {sheet!r}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {problem}")
        self.file, self.sheet, self.row, self.column = file, sheet, row, column


class DataQualityError(EtlError):
    """An error-severity expectation failed on a table that was written."""
