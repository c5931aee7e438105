"""Errors a user can fix, and the exit code of every outcome.

The entry points print an `EtlError` as one line and exit with its code; anything else is a
bug: its traceback is printed and the exit code is `ExitCode.INTERNAL_ERROR`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNBALANCED = 1  # the accounting of some dataset does not balance
    BAD_INPUT = 2  # a source file, a setting or the lakehouse's state needs fixing
    DATA_QUALITY = 3  # an error-severity expectation failed; nothing was published
    INTERNAL_ERROR = 70  # a bug (EX_SOFTWARE): the traceback is printed


class EtlError(Exception):
    """A problem with the input, the configuration or the lakehouse's state, not a bug."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class ConfigurationError(EtlError):
    """A setting (flag, `ETL_*` variable, Glue argument) or the Spark session is unusable."""


class LakehouseLockedError(EtlError):
    """Another run holds the lakehouse's lock."""


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
    """An error-severity expectation failed on what a job was about to publish."""

    exit_code = ExitCode.DATA_QUALITY
