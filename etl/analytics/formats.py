"""Query results as an aligned text table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from etl.analytics.engine import QueryResult
from etl.errors import EtlError

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")


def plain(value: Any) -> Any:
    """A JSON-ready value: numbers stay numbers, dates become ISO text, NaN becomes null."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def text(value: Any) -> str:
    """A value as CSV text: full precision, empty for null."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | dict):
        return json.dumps(plain(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def short_text(value: Any) -> str:
    """A value for the text table: floats to at most 4 decimals."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return text(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def format_table(result: QueryResult) -> str:
    cells = [list(result.columns)] + [[short_text(v) for v in row] for row in result.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(result.columns))]
    numeric = [
        any(is_number(row[i]) for row in result.rows)
        and all(is_number(row[i]) or row[i] is None for row in result.rows)
        for i in range(len(result.columns))
    ]
    lines = [
        "  ".join(
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    count = len(result.rows)
    lines.append(f"({count} row{'' if count == 1 else 's'})")
    return "\n".join(lines)


def format_csv(result: QueryResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([text(v) for v in row] for row in result.rows)
    return out.getvalue().rstrip("\n")


def format_json(result: QueryResult) -> str:
    """A JSON array with one object per row, keys in column order."""
    return json.dumps([plain(r) for r in result.records()], indent=2)


FORMATTERS: dict[Format, Callable[[QueryResult], str]] = {
    "table": format_table,
    "csv": format_csv,
    "json": format_json,
}


def format_result(result: QueryResult, fmt: Format) -> str:
    return FORMATTERS[fmt](result)


def write_result(text: str) -> None:
    """Print a result. A reader that stops early (`| head`) is not an error: the rest of the
    output is dropped quietly. Any other failure to write (a full disk) is an EtlError."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError as exc:
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if not isinstance(exc, BrokenPipeError):
            raise EtlError(f"cannot write the result: {exc.strerror or exc}") from exc
