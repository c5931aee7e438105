from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from etl.contracts import ORDERS, PRODUCTS
from etl.silver.conform import latest_per_key, newer_than_target
from tests.helpers import assert_rows_equal

SCHEMA = (
    "order_id bigint, order_timestamp timestamp, total_amount int, _ingested_at timestamp, "
    "_source_file string, _source_sheet string, _source_row int"
)
T1, T2 = dt.datetime(2025, 4, 1, 10), dt.datetime(2025, 4, 1, 12)
I1, I2 = dt.datetime(2025, 5, 1), dt.datetime(2025, 5, 2)


def test_latest_timestamp_wins_then_later_ingestion(spark: SparkSession) -> None:
    source_df = spark.createDataFrame(
        [
            (1, T1, 10, I1, "a.xlsx", "s", 2),
            (1, T2, 11, I1, "a.xlsx", "s", 3),  # later timestamp wins
            (2, T1, 20, I1, "a.xlsx", "s", 4),
            (2, T1, 21, I2, "b.xlsx", "s", 2),  # same timestamp: later ingestion wins
            (3, T1, 30, I1, "a.xlsx", "s", 5),
        ],
        SCHEMA,
    )
    expected_df = spark.createDataFrame(
        [
            (1, T2, 11, I1, "a.xlsx", "s", 3),
            (2, T1, 21, I2, "b.xlsx", "s", 2),
            (3, T1, 30, I1, "a.xlsx", "s", 5),
        ],
        SCHEMA,
    )
    actual_df = source_df.transform(latest_per_key(ORDERS))
    assert_rows_equal(actual_df, expected_df)


def test_merge_condition_orders_by_timestamp_then_ingestion() -> None:
    assert newer_than_target(ORDERS) == (
        "(s.order_timestamp > t.order_timestamp) OR "
        "(s.order_timestamp = t.order_timestamp AND s._ingested_at > t._ingested_at)"
    )
    assert newer_than_target(PRODUCTS) == "(s._ingested_at > t._ingested_at)"
