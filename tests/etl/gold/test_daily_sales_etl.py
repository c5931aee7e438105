from __future__ import annotations

from decimal import Decimal

from chispa import assert_approx_df_equality
from pyspark.sql import SparkSession

from etl.gold.daily_sales_etl import build
from etl.gold.job import Tables
from tests.etl.gold.conftest import D1, D2

SCHEMA = (
    "order_date date, total_orders bigint, total_revenue decimal(18,2), "
    "avg_order_value decimal(18,2), unique_customers bigint, total_items bigint, "
    "items_per_order double, reorder_rate double"
)


def test_daily_sales(spark: SparkSession, silver: Tables) -> None:
    expected_df = spark.createDataFrame(
        [
            # 30.01 / 2 = 15.005 rounds half up
            (D1, 2, Decimal("30.01"), Decimal("15.01"), 2, 3, 1.5, 2 / 3),
            (D2, 1, Decimal("30.00"), Decimal("30.00"), 1, 1, 1.0, 1.0),
        ],
        SCHEMA,
    )
    actual_df = build(silver).orderBy("order_date")
    assert_approx_df_equality(actual_df, expected_df, 1e-9, ignore_nullable=True)
