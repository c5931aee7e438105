"""The run summaries the docs show, read back as figures, and the same figures from a real run.

A summary is the block `etl.pipeline` prints: the job table (etl.summary) and, after it, the
accounting (etl.accounting). Seconds depend on the machine and are ignored; every count must be
what the code produces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from etl.accounting import Balance
from etl.summary import HEADER

FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

JobFigures = tuple[str, int, int, int, int]  # job, read, written, rejected, duplicates
BalanceFigures = tuple[str, int, int, int, int]  # dataset, bronze, silver, quarantine, duplicates


@dataclass(frozen=True)
class Summary:
    jobs: list[JobFigures]
    balances: list[BalanceFigures]


def _header_at(lines: Sequence[str]) -> int | None:
    for i, line in enumerate(lines):
        if line.split() == list(HEADER):
            return i
    return None


def parse(block: str) -> Summary | None:
    """The figures of a summary block, or None when the block is not one."""
    lines = block.splitlines()
    start = _header_at(lines)
    if start is None:
        return None
    jobs: list[JobFigures] = []
    for line in lines[start + 2 :]:
        cells = line.split(None, len(HEADER) - 1)  # the status may be two words
        if len(cells) != len(HEADER):
            break
        name, read, written, rejected, duplicates, _seconds, _status = cells
        jobs.append((name, int(read), int(written), int(rejected), int(duplicates)))
    balances: list[BalanceFigures] = []
    pattern = re.compile(r"^(\w+)\s+(\d+) =\s+(\d+) \+\s+(\d+) \+\s+(\d+)\s+(ok|UNBALANCED)$")
    for line in lines:
        match = pattern.match(line.strip())
        if match:
            d, b, s, q, dup, _mark = match.groups()
            balances.append((d, int(b), int(s), int(q), int(dup)))
    return Summary(jobs, balances)


def summaries(text: str) -> list[Summary]:
    """Every summary block of a Markdown text, in order."""
    found = (parse(block) for block in FENCE.findall(text))
    return [s for s in found if s is not None]


def from_results(results: Iterable[Any]) -> list[JobFigures]:
    """The figures the summary prints for these JobResults (etl.summary.format_summary)."""
    return [(r.job, r.rows_read + r.retried, r.written, r.rejected, r.duplicates) for r in results]


def from_runs(rows: Iterable[dict[str, Any]], run_id: str) -> list[JobFigures]:
    """The same figures from one run's rows of `_audit/runs`, in the order they were written."""
    mine = sorted((r for r in rows if r["run_id"] == run_id), key=lambda r: r["finished_at"])
    return [
        (
            r["job"],
            r["rows_read"] + r["retried"],
            r["inserted"] + r["updated"],
            r["rejected"],
            r["duplicates"],
        )
        for r in mine
    ]


def from_balances(balances: Iterable[Balance]) -> list[BalanceFigures]:
    return [(b.dataset, b.bronze, b.silver, b.quarantine, b.duplicates) for b in balances]
