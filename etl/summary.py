"""The table printed at the end of a run."""

from __future__ import annotations

from collections.abc import Sequence

from etl.runner import JobResult

HEADER = ("job", "read", "written", "rejected", "duplicates", "seconds")


def format_summary(results: Sequence[JobResult]) -> str:
    rows = [HEADER] + [
        (
            r.job,
            str(r.rows_read + r.retried),
            str(r.written),
            str(r.rejected),
            str(r.duplicates),
            f"{r.seconds:.1f}",
        )
        for r in results
    ]
    return format_table(rows)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first row is the header, the first column left-aligned, the
    others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
