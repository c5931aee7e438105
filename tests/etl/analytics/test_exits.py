"""`etl.query` and `etl.report` end with exit code 0, however early DuckDB stops reading.

The failure this guards against happened only as the process exited, after the result was
printed: DuckDB stopped reading a Delta table's Arrow dataset early (a `LIMIT`), Arrow's I/O
threads were still calling delta-rs's Python filesystem handler while the interpreter shut down,
and the process died with exit 134 (abort) or 139 (segmentation fault). An in-process call cannot
see that, so every query here runs in a process of its own that exits the normal way
(`sys.exit(main(...))`, the full interpreter shutdown of `python -m etl.query`). One driver
process (`exit_driver.py`) imports the modules once and forks a child per run; each child still
costs about half a second of interpreter shutdown, so the default suite queries every table once
and the `thorough` run (`.ci/run`) runs the hundred.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etl.analytics.engine import known_tables
from tests.conftest import REPO
from tests.shared_lakehouse import BuiltLakehouse


def exit_codes(module: str, arguments: list[list[str]]) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.etl.analytics.exit_driver", module],
        input=json.dumps(arguments),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    codes: list[int] = json.loads(done.stdout.splitlines()[-1])
    return codes


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize(
    "runs",
    [
        pytest.param(len(known_tables()), id="each table"),
        pytest.param(100, marks=pytest.mark.thorough, id="a hundred"),
    ],
)
def test_limit_queries_over_every_table_each_exit_0(
    sample_lakehouse_files: BuiltLakehouse, runs: int
) -> None:
    lakehouse = sample_lakehouse_files.settings.lakehouse_dir
    tables = known_tables()
    queries = [f"SELECT * FROM {tables[i % len(tables)]} LIMIT {1 + i % 5}" for i in range(runs)]

    codes = exit_codes("etl.query", [["--lakehouse-dir", lakehouse, sql] for sql in queries])

    failed = [(sql, code) for sql, code in zip(queries, codes, strict=True) if code != 0]
    assert len(codes) == runs
    assert failed == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_reports_exit_0(sample_lakehouse_files: BuiltLakehouse, tmp_path: Path) -> None:
    lakehouse = sample_lakehouse_files.settings.lakehouse_dir
    runs = [
        ["--lakehouse-dir", lakehouse, "--output", str(tmp_path / f"{i}.html")] for i in range(5)
    ]

    assert exit_codes("etl.report", runs) == [0] * len(runs)
    assert all((tmp_path / f"{i}.html").stat().st_size > 10_000 for i in range(len(runs)))
