"""The tests' comparisons in any row order, of two DataFrames and of two stored Delta tables,
find what chispa's does; the session's Python workers run the tests' daemon; a test workbook
written twice is the same bytes."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import DataFramesNotEqualError
from chispa.schema_comparer import SchemasNotEqualError
from openpyxl import load_workbook
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tests.helpers import (
    StoredTable,
    assert_rows_equal,
    assert_tables_equal,
    stored_table,
    write_workbook,
)

SCHEMA = "id long, reasons array<string>, amount double"


def test_rows_in_another_order_are_equal_and_one_changed_value_is_not(spark: SparkSession) -> None:
    rows = [(1, ["a", "b"], 1.5), (2, None, None), (3, ["c"], 2.0), (2, ["d"], 0.1)]
    frame = spark.createDataFrame(rows, SCHEMA)
    shuffled = spark.createDataFrame(list(reversed(rows)), frame.schema).repartition(3)
    assert_rows_equal(shuffled, frame)
    changed = spark.createDataFrame([*rows[:3], (2, ["e"], 0.1)], frame.schema)
    with pytest.raises(DataFramesNotEqualError):
        assert_rows_equal(changed, frame)
    with pytest.raises(DataFramesNotEqualError):  # a row twice is not the same rows
        assert_rows_equal(spark.createDataFrame([*rows, rows[0]], frame.schema), frame)
    with pytest.raises(SchemasNotEqualError):
        assert_rows_equal(frame.withColumnRenamed("amount", "total"), frame)


def test_stored_tables_compare_their_schemas_and_rows_in_any_order(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A table Spark wrote reads back with Spark's schema and rows; the comparison ignores row
    order and file layout, and finds one changed value, a row twice, and another schema."""
    rows = [
        (1, ["a", "b"], Decimal("1.50"), date(2025, 4, 1)),
        (2, None, None, None),
        (3, ["c"], Decimal("2.00"), date(2025, 4, 2)),
        (2, ["d"], Decimal("0.10"), date(2025, 4, 1)),
    ]
    schema = "id long, reasons array<string>, amount decimal(10,2), day date"

    def written(name: str, data: list[tuple[object, ...]], partitions: int = 1) -> StoredTable:
        path = str(tmp_path / name)
        frame = spark.createDataFrame(data, schema).repartition(partitions)
        frame.write.format("delta").save(path)
        return stored_table(path)

    table = written("a", rows)
    read = spark.read.format("delta").load(str(tmp_path / "a"))
    assert table.schema == read.schema
    assert sorted(table.rows, key=str) == sorted(read.collect(), key=str)

    assert_tables_equal(written("b", list(reversed(rows)), partitions=3), table)
    with pytest.raises(DataFramesNotEqualError):
        changed = (2, ["e"], Decimal("0.10"), date(2025, 4, 1))  # one value of the last row
        assert_tables_equal(written("c", [*rows[:3], changed]), table)
    with pytest.raises(DataFramesNotEqualError):
        assert_tables_equal(written("d", [*rows, rows[0]]), table)
    with pytest.raises(SchemasNotEqualError):
        assert_tables_equal(table.without(["day"]), table)
    assert table.without(["day", "amount"]).schema.fieldNames() == ["id", "reasons"]


def test_python_workers_run_the_daemon_that_keeps_archive_directories(spark: SparkSession) -> None:
    """tests/pyspark_daemon.py is in effect: without it each Python task rereads the worker's
    zip archives (the table-store, row-rule and layer modules: 191.5 s -> 139.6 s)."""

    @F.udf("string")
    def daemon(_: int) -> str:
        import sys
        import zipimport

        main = getattr(sys.modules["__main__"].__spec__, "name", "")
        return f"{main} {zipimport.zipimporter.invalidate_caches.__name__}"

    assert spark.range(1).select(daemon("id")).first()[0] == "tests.pyspark_daemon _keep_directory"


def test_a_workbook_written_again_seconds_later_is_the_same_bytes(tmp_path: Path) -> None:
    """The pipeline takes a file whose bytes changed for new content, so a test that writes the
    same sources twice must get the same files whichever second each was written in."""
    sheets = {"2025-04-01": [["id", "amount"], [1, 10.5]], "2025-04-02": [["id", "amount"]]}
    first = write_workbook(tmp_path / "first.xlsx", sheets)
    time.sleep(1.1)  # into the clock's next second: a workbook stamped with it would differ
    second = write_workbook(tmp_path / "second.xlsx", sheets)
    assert first.read_bytes() == second.read_bytes()
    read = load_workbook(second, read_only=True)
    assert read.sheetnames == ["2025-04-01", "2025-04-02"]
    assert [list(row) for row in read["2025-04-01"].values] == [["id", "amount"], [1, 10.5]]
