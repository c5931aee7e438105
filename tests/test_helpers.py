"""The tests' comparison of two DataFrames in any row order finds what chispa's does."""

from __future__ import annotations

import pytest
from chispa import DataFramesNotEqualError
from chispa.schema_comparer import SchemasNotEqualError
from pyspark.sql import SparkSession

from tests.helpers import assert_rows_equal

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
