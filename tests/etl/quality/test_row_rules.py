from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.contracts import ORDER_ITEMS, ORDERS, PRODUCTS
from etl.quality.row_rules import check, rejected_rows, valid_rows

LINEAGE_VALUES = ("orders_apr_2025.xlsx", "2025-04-01", 2, "b1", dt.datetime(2025, 5, 1), "h")


def bronze(
    spark: SparkSession, columns: tuple[str, ...], *values: tuple[str | None, ...]
) -> DataFrame:
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in columns]
        + [
            T.StructField("_source_file", T.StringType()),
            T.StructField("_source_sheet", T.StringType()),
            T.StructField("_source_row", T.IntegerType()),
            T.StructField("_batch_id", T.StringType()),
            T.StructField("_ingested_at", T.TimestampType()),
            T.StructField("_row_hash", T.StringType()),
        ]
    )
    data = [(*v, *LINEAGE_VALUES[:-1], f"h{i}") for i, v in enumerate(values)]
    return spark.createDataFrame(data, schema)


def reasons(checked: DataFrame, key: str) -> DataFrame:
    return checked.select(F.col(f"_raw.{key}").alias(key), "_errors").orderBy(key)


def test_orders_are_typed_and_every_failed_rule_is_listed(spark: SparkSession) -> None:
    source_df = bronze(
        spark,
        ORDERS.source_columns,  # contract order: order_id, order_num, ...
        ("10000", "1", "1001", "2025-04-01T03:39:00", "430.99", "2025-04-01"),
        ("10001", "2", "", "2025-04-01T05:00:00", "-5", "2025-04-01"),
        ("1x", "3", "1003", "yesterday", "abc", "2025-04-01"),
        ("10003", "4", "1004", "1990-01-01T00:00:00", "10", "1990-01-02"),
        ("10004.0", "5", "1005", "2025-04-02 23:59:59", " 7.5 ", "2025-04-02"),
    )
    actual_df = reasons(source_df.transform(check(ORDERS)), "order_id")
    schema = T.StructType(
        [
            T.StructField("order_id", T.StringType()),
            T.StructField("_errors", T.ArrayType(T.StringType())),
        ]
    )
    expected_df = spark.createDataFrame(
        [
            ("10000", []),
            ("10001", ["user_id.null", "total_amount.negative"]),
            ("10003", ["order_timestamp.out_of_range", "date.mismatch"]),
            ("10004.0", []),
            (
                "1x",
                ["order_id.not_integer", "order_timestamp.unparseable", "total_amount.not_numeric"],
            ),
        ],
        schema,
    )
    assert_df_equality(actual_df, expected_df, ignore_nullable=True)


def test_typed_values_are_exact(spark: SparkSession) -> None:
    source_df = bronze(
        spark,
        ORDERS.source_columns,
        ("10004.0", "7", "1005", "2025-04-02 23:59:59", " 7.5 ", "2025-04-02"),
    )
    row = valid_rows(source_df.transform(check(ORDERS))).collect()[0]
    assert (row["order_id"], row["order_num"], row["user_id"]) == (10004, 7, 1005)
    assert row["order_timestamp"] == dt.datetime(2025, 4, 2, 23, 59, 59)
    assert row["total_amount"] == Decimal("7.50")
    assert row["order_date"] == dt.date(2025, 4, 2)


def test_items_need_parents_and_the_orders_user(spark: SparkSession) -> None:
    orders = spark.createDataFrame([(10000, 1001)], "order_id bigint, user_id bigint")
    products = spark.createDataFrame([(5,)], "product_id bigint")
    ts = "2025-04-01T03:39:00"
    source_df = bronze(
        spark,
        ORDER_ITEMS.source_columns,
        ("1", "10000", "1001", "3", "5", "1", "0", ts, "2025-04-01"),
        ("2", "10000", "1002", "3", "5", "1", "1", ts, "2025-04-01"),
        ("3", "99999", "1001", "3", "6", "0", "2", ts, "2025-04-01"),
        ("4", "10000", "1001", "400", "5", "2", "x", ts, "2025-04-01"),
    )
    checked = source_df.transform(check(ORDER_ITEMS, {"orders": orders, "products": products}))
    actual = {r["_raw"]["id"]: r["_errors"] for r in checked.collect()}
    assert actual == {
        "1": [],
        "2": ["user_id.differs_from_order"],
        "3": [
            "reordered.not_0_or_1",
            "add_to_cart_order.below_1",
            "order_id.no_parent",
            "product_id.no_parent",
        ],
        "4": ["reordered.not_integer", "days_since_prior_order.out_of_range"],
    }
    assert rejected_rows(checked).count() == 3


def test_products_warn_on_ambiguous_department_id_but_keep_the_row(spark: SparkSession) -> None:
    source_df = bronze(
        spark,
        PRODUCTS.source_columns,
        ("1", "4", "Books", "Product_1"),
        ("2", "4", "Sports", "Product_2"),
        ("3", "5", "Home", ""),
    )
    checked = source_df.transform(check(PRODUCTS))
    actual = {r["product_id"]: (r["_errors"], r["_warnings"]) for r in checked.collect()}
    assert actual == {
        1: ([], ["department_id.ambiguous"]),
        2: ([], ["department_id.ambiguous"]),
        3: (["product_name.empty"], []),
    }


def test_reasons_the_sample_generator_does_not_plant(spark: SparkSession) -> None:
    """The codes outside the generator's every-rule set are exercised here instead."""
    orders = bronze(
        spark,
        ORDERS.source_columns,
        ("10000", "one", "1001", "2025-04-01T03:39:00", "4.5", "April 1st"),
    )
    items = bronze(
        spark,
        ORDER_ITEMS.source_columns,
        ("1", "10000", "1001", "3", "5", "", "", "", "01/04/2025"),
    )
    products = bronze(spark, PRODUCTS.source_columns, ("1", "", "Books", "Product_1"))
    ids = {"orders": 10000, "products": 5}
    parents = {
        "orders": spark.createDataFrame([(ids["orders"], 1001)], "order_id bigint, user_id bigint"),
        "products": spark.createDataFrame([(ids["products"],)], "product_id bigint"),
    }
    found = [
        df.transform(check(contract, parents)).collect()[0]["_errors"]
        for df, contract in ((orders, ORDERS), (items, ORDER_ITEMS), (products, PRODUCTS))
    ]
    assert found == [
        ["order_num.not_integer", "date.unparseable"],
        ["add_to_cart_order.null", "reordered.null", "order_timestamp.null", "date.unparseable"],
        ["department_id.null"],
    ]


# Timestamps with an offset, the date check and the future horizon ------------------------------

RUN_DATE = dt.date(2025, 4, 10)


def order_row(order_id: int, timestamp: str, source_date: str = "") -> tuple[str, ...]:
    return (str(order_id), "1", "1001", timestamp, "10", source_date or timestamp[:10])


def test_timestamps_with_an_offset_are_converted_to_utc(spark: SparkSession) -> None:
    source_df = bronze(
        spark,
        ORDERS.source_columns,
        order_row(1, "2025-04-01T10:00:00+02:00"),
        order_row(2, "2025-04-01T10:00:00-05:00"),
        order_row(3, "2025-04-01T10:00:00Z"),
        order_row(4, "2025-04-01T10:00:00+0000"),
        order_row(5, "2025-04-01 10:00:00.123+02:00"),
        order_row(6, "2025-04-01T10:00:00.5z"),
        order_row(7, "2025-04-01T10:00+05:30"),
        order_row(8, "2025-04-01T10:00:00+02"),
        order_row(9, "2025-04-01T10:00:00.1234567-0130"),
        order_row(10, "2025-04-01T10:00:00"),
        order_row(11, "2025-04-01 23:30:00"),
        order_row(12, "2025-04-01T23:30:00-05:00"),
        order_row(13, "2025-04-02T01:00:00+02:00", "2025-04-02"),
    )
    checked = source_df.transform(check(ORDERS, run_date=RUN_DATE))
    actual_df = checked.select("order_id", "order_timestamp", "order_date", "_errors").orderBy(
        "order_id"
    )
    schema = T.StructType(
        [
            T.StructField("order_id", T.LongType()),
            T.StructField("order_timestamp", T.TimestampType()),
            T.StructField("order_date", T.DateType()),
            T.StructField("_errors", T.ArrayType(T.StringType())),
        ]
    )
    ts, day = dt.datetime, dt.date
    expected_df = spark.createDataFrame(
        [
            (1, ts(2025, 4, 1, 8, 0), day(2025, 4, 1), []),
            (2, ts(2025, 4, 1, 15, 0), day(2025, 4, 1), []),
            (3, ts(2025, 4, 1, 10, 0), day(2025, 4, 1), []),
            (4, ts(2025, 4, 1, 10, 0), day(2025, 4, 1), []),
            (5, ts(2025, 4, 1, 8, 0, 0, 123000), day(2025, 4, 1), []),
            (6, ts(2025, 4, 1, 10, 0, 0, 500000), day(2025, 4, 1), []),
            (7, ts(2025, 4, 1, 4, 30), day(2025, 4, 1), []),
            (8, ts(2025, 4, 1, 8, 0), day(2025, 4, 1), []),
            (9, ts(2025, 4, 1, 11, 30, 0, 123456), day(2025, 4, 1), []),
            (10, ts(2025, 4, 1, 10, 0), day(2025, 4, 1), []),
            (11, ts(2025, 4, 1, 23, 30), day(2025, 4, 1), []),
            # Written on 1 April local time, 2 April in UTC: order_date follows UTC, and the
            # source date (1 April) agrees with the date written in the timestamp.
            (12, ts(2025, 4, 2, 4, 30), day(2025, 4, 2), []),
            (13, ts(2025, 4, 1, 23, 0), day(2025, 4, 1), []),
        ],
        schema,
    )
    assert_df_equality(actual_df, expected_df, ignore_nullable=True)


def test_the_source_date_is_compared_with_the_local_date_written_in_the_timestamp(
    spark: SparkSession,
) -> None:
    source_df = bronze(
        spark,
        ORDERS.source_columns,
        order_row(1, "2025-04-01T23:30:00-05:00", "2025-04-01"),  # local date: agrees
        order_row(2, "2025-04-01T23:30:00-05:00", "2025-04-02"),  # the UTC date: disagrees
        order_row(3, "2025-04-02T01:00:00+02:00", "2025-04-01"),  # the UTC date: disagrees
        order_row(4, "2025-04-01T10:00:00", "2025-04-02"),
        order_row(5, "2025-04-01T10:00:00+19:00", "2025-04-01"),  # no such offset
        order_row(6, "2025-04-01T10:00:00 +02:00", "2025-04-01"),
        order_row(7, "2025-04-01T10:00:00+02:00Z", "2025-04-01"),
    )
    actual_df = reasons(source_df.transform(check(ORDERS, run_date=RUN_DATE)), "order_id")
    schema = T.StructType(
        [
            T.StructField("order_id", T.StringType()),
            T.StructField("_errors", T.ArrayType(T.StringType())),
        ]
    )
    expected_df = spark.createDataFrame(
        [
            ("1", []),
            ("2", ["date.mismatch"]),
            ("3", ["date.mismatch"]),
            ("4", ["date.mismatch"]),
            ("5", ["order_timestamp.unparseable"]),
            ("6", ["order_timestamp.unparseable"]),
            ("7", ["order_timestamp.unparseable"]),
        ],
        schema,
    )
    assert_df_equality(actual_df, expected_df, ignore_nullable=True)


def horizon_findings(
    spark: SparkSession,
    timestamps: list[str],
    future_horizon_days: int = 1,
    run_date: dt.date | None = None,
) -> list[tuple[str, list[str], list[str]]]:
    """Each order line's timestamp with its errors and warnings."""
    source_df = bronze(
        spark,
        ORDER_ITEMS.source_columns,
        *[
            (str(i), "10000", "1001", "3", "5", "1", "0", t, t[:10])
            for i, t in enumerate(timestamps)
        ],
    )
    parents = {
        "orders": spark.createDataFrame([(10000, 1001)], "order_id bigint, user_id bigint"),
        "products": spark.createDataFrame([(5,)], "product_id bigint"),
    }
    checked = source_df.transform(check(ORDER_ITEMS, parents, future_horizon_days, run_date))
    rows = checked.orderBy(F.col("id")).collect()
    return [(r["_raw"]["order_timestamp"], r["_errors"], r["_warnings"]) for r in rows]


BEYOND = ["order_timestamp.beyond_horizon"]


def test_a_timestamp_beyond_the_horizon_is_a_warning_and_the_row_is_kept(
    spark: SparkSession,
) -> None:
    timestamps = [
        "2025-04-11T23:59:59",  # the run date plus one day: inside the horizon
        "2025-04-12T00:00:00",
        "2025-04-12T01:00:00+02:00",  # 11 April in UTC: inside
        "2031-01-01T00:00:00Z",
        "2099-12-31T23:59:59",
        "2100-01-02T00:00:00",  # out of range: an error, not a warning as well
    ]
    assert horizon_findings(spark, timestamps, run_date=RUN_DATE) == [
        ("2025-04-11T23:59:59", [], []),
        ("2025-04-12T00:00:00", [], BEYOND),
        ("2025-04-12T01:00:00+02:00", [], []),
        ("2031-01-01T00:00:00Z", [], BEYOND),
        ("2099-12-31T23:59:59", [], BEYOND),
        ("2100-01-02T00:00:00", ["order_timestamp.out_of_range"], []),
    ]


@pytest.mark.parametrize(
    ("days", "expected"), [(0, [BEYOND, BEYOND, [], BEYOND]), (30, [[], [], [], BEYOND])]
)
def test_the_horizon_is_a_parameter(
    spark: SparkSession, days: int, expected: list[list[str]]
) -> None:
    timestamps = ["2025-04-11T00:00:00", "2025-04-12T00:00:00", "2025-04-11T01:00:00+02:00"]
    timestamps.append("2025-05-11T00:00:00")
    found = horizon_findings(spark, timestamps, future_horizon_days=days, run_date=RUN_DATE)
    assert [f[2] for f in found] == expected


def test_the_horizon_counts_from_the_day_the_check_runs(spark: SparkSession) -> None:
    today = dt.datetime.now(dt.UTC).date()
    timestamps = [f"{today + dt.timedelta(days=n)}T12:00:00" for n in (0, 1, 2)]
    found = horizon_findings(spark, timestamps)
    assert [f[2] for f in found] == [[], [], ["order_timestamp.beyond_horizon"]]


def test_a_negative_horizon_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        check(ORDERS, future_horizon_days=-1)
    assert str(caught.value) == "the future horizon must be 0 or more days, not -1"
