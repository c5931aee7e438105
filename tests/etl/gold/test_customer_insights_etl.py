from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_approx_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl.gold.customer_insights_etl import build, segment
from etl.gold.job import Tables

SCHEMA = (
    "user_id bigint, total_orders bigint, total_spend decimal(18,2), "
    "avg_order_value decimal(18,2), "
    "first_order_at timestamp, last_order_at timestamp, total_items bigint, reorder_rate double, "
    "avg_days_since_prior_order double, favourite_department string, segment string"
)


def test_customer_insights(spark: SparkSession, silver: Tables) -> None:
    t100, t101, t102 = (
        dt.datetime(2025, 4, 1, 10),
        dt.datetime(2025, 4, 1, 11),
        dt.datetime(2025, 4, 2, 9),
    )
    expected_df = spark.createDataFrame(
        [
            (
                1,
                2,
                Decimal("40.00"),
                Decimal("20.00"),
                t100,
                t102,
                3,
                2 / 3,
                17 / 3,
                "Books",
                "loyal",
            ),
            (2, 1, Decimal("20.01"), Decimal("20.01"), t101, t101, 1, 1.0, 10.0, "Books", "new"),
        ],
        SCHEMA,
    )
    actual_df = build(silver).orderBy("user_id")
    assert_approx_df_equality(actual_df, expected_df, 1e-9, ignore_nullable=True)


def test_segments(spark: SparkSession) -> None:
    source_df = spark.createDataFrame(
        [(3, 10.0), (2, 5000.0), (1, 400.0), (1, 399.99)], "orders int, spend double"
    )
    actual = [
        r["s"]
        for r in source_df.select(segment(F.col("orders"), F.col("spend")).alias("s")).collect()
    ]
    assert actual == ["champion", "loyal", "big_spender", "new"]
