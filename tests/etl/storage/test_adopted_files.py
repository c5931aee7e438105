"""A new delta-rs table adopts the Parquet files Spark wrote (etl/storage/adopted_files.py):
the rows, the statistics in the log and the bookkeeping must be what a write by delta-rs gives."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from etl.bookkeeping import changes_data
from etl.storage import Commit, MergeSpec, get_table_store
from tests.helpers import assert_rows_equal

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType()),
        T.StructField("name", T.StringType()),
        T.StructField("day", T.DateType()),
        T.StructField("at", T.TimestampType()),
        T.StructField("amount", T.DecimalType(12, 2)),
        T.StructField("share", T.DoubleType()),
        T.StructField("tags", T.ArrayType(T.StringType())),
        T.StructField("part", T.StringType()),
    ]
)
LABEL = Commit("test.job", "run-1", {"kind": "data"})
BOUNDED = ("id", "name", "day")  # integers, strings, dates: exact Parquet bounds
UNBOUNDED = ("at", "amount", "share")  # millisecond timestamps, decimals, floating point


def frame(spark: SparkSession, part: str = "p1") -> DataFrame:
    day = dt.date(2025, 4, 1)
    at = dt.datetime(2025, 4, 1, 10, 0, 0, 123456)
    values = [
        (1, "kettle", day, at, Decimal("1.25"), 0.5, ["a"], part),
        (2, None, None, None, None, None, None, part),
        (3, "apron", dt.date(2025, 4, 3), at, Decimal("-3.10"), 2.0, [], part),
        (4, "zither", day, None, Decimal("7.00"), None, ["b"], None),
        (5, "bowl", dt.date(2025, 3, 30), at, Decimal("0.01"), 1.0, ["c"], "p2"),
    ]
    return spark.createDataFrame(values, SCHEMA)


def first_commit(path: Path) -> list[dict[str, Any]]:
    text = (path / "_delta_log" / f"{0:020d}.json").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_a_new_table_is_the_files_spark_wrote_with_exact_statistics(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "t"
    store = get_table_store(spark, "delta-rs")
    df = frame(spark)

    result = store.merge(df, str(path), MergeSpec(keys=("id",), partition_by=("part",)), LABEL)

    assert (result.version, result.inserted) == (0, 5)
    for reader in ("delta-rs", "delta-spark"):
        read = get_table_store(spark, reader).read(str(path))
        assert_rows_equal(read, df, ignore_nullable=True)
    actions = first_commit(path)
    adds = [a["add"] for a in actions if "add" in a]
    assert {a["partitionValues"]["part"] for a in adds} == {None, "p1", "p2"}
    for add in adds:
        data = pq.ParquetFile(path / add["path"]).read()  # the file itself, counted by Arrow
        stats = json.loads(add["stats"])
        assert stats["numRecords"] == data.num_rows
        expected_nulls = {
            c: data.column(c).null_count
            for c in SCHEMA.fieldNames()
            if c in data.column_names and c != "tags"
        }
        assert stats["nullCount"] == expected_nulls
        for column in BOUNDED:
            values = data.column(column).drop_null()
            if len(values) == 0:
                assert column not in stats["minValues"]
                continue
            low, high = pc.min(values).as_py(), pc.max(values).as_py()
            if isinstance(low, dt.date):
                low, high = low.isoformat(), high.isoformat()
            assert (stats["minValues"][column], stats["maxValues"][column]) == (low, high)
        assert not set(UNBOUNDED) & (set(stats["minValues"]) | set(stats["maxValues"]))
    history = store.history(str(path))
    assert [h.commit for h in history] == [LABEL]
    assert changes_data(history[0])  # the first batch is data to the jobs that read the table
    assert store.count(str(path)) == 5


def test_a_partition_folder_that_needs_encoding_is_written_by_delta_rs(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A space in a partition value: the log would need the path encoded, so delta-rs writes
    the table itself (operation WRITE) instead of adopting the files."""
    path = tmp_path / "t"
    store = get_table_store(spark, "delta-rs")
    df = frame(spark, part="p 1")

    result = store.merge(df, str(path), MergeSpec(keys=("id",), partition_by=("part",)), LABEL)

    assert result.inserted == 5
    assert store.history(str(path))[0].operation == "WRITE"
    assert_rows_equal(store.read(str(path)), df, ignore_nullable=True)


@pytest.mark.parametrize("partition_by", [(), ("part",)])
def test_an_empty_batch_creates_an_empty_table(
    spark: SparkSession, tmp_path: Path, partition_by: tuple[str, ...]
) -> None:
    path = tmp_path / "t"
    store = get_table_store(spark, "delta-rs")
    empty = spark.createDataFrame([], SCHEMA)

    result = store.merge(
        empty, str(path), MergeSpec(keys=("id",), partition_by=partition_by), LABEL
    )

    assert (result.version, result.inserted) == (0, 0)
    assert store.count(str(path)) == 0
    assert_df_equality(store.read(str(path)), empty, ignore_nullable=True)
