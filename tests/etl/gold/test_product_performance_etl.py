from __future__ import annotations

from chispa import assert_approx_df_equality
from pyspark.sql import SparkSession

from etl.gold.job import Tables
from etl.gold.product_performance_etl import build
from tests.etl.gold.conftest import D1, D2

SCHEMA = (
    "product_id bigint, product_name string, department string, units_sold bigint, "
    "order_count bigint, unique_customers bigint, reorder_rate double, "
    "avg_add_to_cart_order double, first_order_date date, last_order_date date"
)


def test_product_performance_includes_unsold_products(spark: SparkSession, silver: Tables) -> None:
    expected_df = spark.createDataFrame(
        [
            (1, "P1", "Books", 3, 3, 2, 2 / 3, 1.0, D1, D2),
            (2, "P2", "Home", 1, 1, 1, 1.0, 2.0, D1, D1),
            (3, "P3", "Home", 0, 0, 0, None, None, None, None),
        ],
        SCHEMA,
    )
    actual_df = build(silver).orderBy("product_id")
    assert_approx_df_equality(actual_df, expected_df, 1e-9, ignore_nullable=True)
