"""The table printed at the end of a run."""

from __future__ import annotations

from collections.abc import Sequence

from etl.runner import JobResult

HEADER = ("job", "read", "written", "rejected", "duplicates", "seconds", "status")


def format_summary(results: Sequence[JobResult]) -> str:
    """One line per job, also for a job that had nothing new (it says so)."""
    rows = [HEADER] + [
        (
            r.job,
            str(r.rows_read + r.retried),
            str(r.written),
            str(r.rejected),
            str(r.duplicates),
            f"{r.seconds:.1f}",
            r.status,
        )
        for r in results
    ]
    return format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first row is the header; columns of numbers are aligned right,
    the others left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = [i > 0 and all(_is_number(row[i]) for row in rows[1:]) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if numeric[i] else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True
