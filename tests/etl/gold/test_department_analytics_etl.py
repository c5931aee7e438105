from __future__ import annotations

from chispa import assert_approx_df_equality
from pyspark.sql import SparkSession

from etl.gold.department_analytics_etl import build
from etl.gold.job import Tables

SCHEMA = (
    "department string, units_sold bigint, order_count bigint, unique_customers bigint, "
    "reorder_rate double, products_sold bigint, share_of_units double"
)


def test_department_analytics_groups_by_name(spark: SparkSession, silver: Tables) -> None:
    expected_df = spark.createDataFrame(
        [("Books", 3, 3, 2, 2 / 3, 1, 0.75), ("Home", 1, 1, 1, 1.0, 1, 0.25)], SCHEMA
    )
    actual_df = build(silver).orderBy("department")
    assert_approx_df_equality(actual_df, expected_df, 1e-9, ignore_nullable=True)
