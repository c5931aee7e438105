"""`python -m etl.query`: output formats, files, and errors as one line with exit code 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from etl.analytics.named_queries import ATHENA_SQL_DIR
from etl.query import main
from tests.shared_lakehouse import BuiltLakehouse

SQL = "SELECT order_date, total_orders, total_revenue FROM gold.daily_sales ORDER BY order_date"


def lakehouse_args(ctx: BuiltLakehouse) -> list[str]:
    return ["--lakehouse-dir", ctx.settings.lakehouse_dir]


def test_table_format_is_the_default(
    sample_lakehouse_files: BuiltLakehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*lakehouse_args(sample_lakehouse_files), SQL]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["order_date", "total_orders", "total_revenue"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[0] == "2025-04-01"
    assert lines[-1] == f"({len(lines) - 3} rows)"


def test_csv_prints_the_header_then_the_rows(
    sample_lakehouse_files: BuiltLakehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*lakehouse_args(sample_lakehouse_files), "--format", "csv", SQL]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["order_date", "total_orders", "total_revenue"]
    assert rows[1][0] == "2025-04-01"
    assert all(len(r) == 3 for r in rows)
    assert int(rows[1][1]) > 0 and float(rows[1][2]) > 0


def test_json_prints_one_object_per_row(
    sample_lakehouse_files: BuiltLakehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*lakehouse_args(sample_lakehouse_files), "--format", "json", SQL]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert list(rows[0]) == ["order_date", "total_orders", "total_revenue"]
    assert rows[0]["order_date"] == "2025-04-01"
    assert isinstance(rows[0]["total_revenue"], float)


def test_a_query_file_runs(
    sample_lakehouse_files: BuiltLakehouse, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ATHENA_SQL_DIR / "repeat_purchase_rate.sql"
    assert (
        main([*lakehouse_args(sample_lakehouse_files), "--file", str(path), "--format", "csv"]) == 0
    )
    header, values = capsys.readouterr().out.splitlines()
    assert header.startswith("customers,repeat_customers,repeat_purchase_rate")
    assert int(values.split(",")[0]) > 0


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM gold.no_such_table", "error: unknown table gold.no_such_table"),
        ("SELEC * FROM gold.daily_sales", "error: invalid SQL"),
        ("SELECT no_such_column FROM gold.daily_sales", "error: Binder Error"),
    ],
)
def test_errors_are_one_line_on_stderr_with_exit_code_2(
    sample_lakehouse_files: BuiltLakehouse,
    capsys: pytest.CaptureFixture[str],
    sql: str,
    message: str,
) -> None:
    assert main([*lakehouse_args(sample_lakehouse_files), sql]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_a_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lakehouse-dir", str(tmp_path), "--file", str(tmp_path / "nope.sql")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read")


def test_list_names_every_query(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for path in ATHENA_SQL_DIR.glob("*.sql"):
        assert f"  {path.stem}: " in out


@pytest.mark.integration
def test_the_module_runs_as_a_command(tmp_path: Path) -> None:
    """The real entry point, without Spark: fast, and the exit code reaches the shell."""
    ok = subprocess.run(
        [sys.executable, "-m", "etl.query", "--format", "csv", "SELECT 1 AS one"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (ok.returncode, ok.stdout) == (0, "one\n1\n")
    bad = subprocess.run(
        [sys.executable, "-m", "etl.query", "--lakehouse-dir", str(tmp_path), "SELECT * FROM x.y"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1


def test_query_and_report_do_not_start_spark(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path
) -> None:
    """Both read the Delta tables through DuckDB and delta-rs: no Spark driver (no JVM) starts."""
    lake = ["--lakehouse-dir", sample_lakehouse_files.settings.lakehouse_dir]
    query = [*lake, "SELECT count(*) FROM gold.daily_sales"]
    report = [*lake, "--output", str(tmp_path / "d.html")]
    code = (
        "import etl.query, etl.report\n"
        f"assert etl.query.main({query!r}) == 0\n"
        f"assert etl.report.main({report!r}) == 0\n"
        "from pyspark import SparkContext\n"
        "print('spark started' if SparkContext._active_spark_context else 'no spark')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "no spark"


@pytest.mark.integration
def test_a_reader_that_stops_early_is_not_an_error(sample_lakehouse_files: BuiltLakehouse) -> None:
    """`python -m etl.query ... | head -1`: the rest of the output is dropped, no traceback."""
    command = [sys.executable, "-m", "etl.query", *lakehouse_args(sample_lakehouse_files)]
    with subprocess.Popen(
        [*command, "SELECT * FROM silver.order_items"],  # far more than a pipe buffer holds
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as query:
        assert query.stdout is not None and query.stderr is not None
        header = query.stdout.readline()
        query.stdout.close()
        err = query.stderr.read()
        code = query.wait(timeout=120)
    assert header.split()[:2] == [b"id", b"order_id"]
    assert (code, err) == (0, b"")


@pytest.mark.integration
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_one_line() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "etl.query", "SELECT 1 AS one"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert (done.returncode, done.stderr) == (
        2,
        "error: cannot write the result: No space left on device\n",
    )
