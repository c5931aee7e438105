"""A tiny silver lakehouse, small enough to compute every gold figure by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession

from etl.gold.job import Tables

D1, D2 = dt.date(2025, 4, 1), dt.date(2025, 4, 2)
ORDERS = (
    "order_id bigint, order_num int, user_id bigint, order_timestamp timestamp, "
    "total_amount decimal(12,2), order_date date"
)
ITEMS = (
    "id bigint, order_id bigint, user_id bigint, days_since_prior_order int, product_id bigint, "
    "add_to_cart_order int, reordered int, order_timestamp timestamp, order_date date"
)
PRODUCTS = "product_id bigint, department_id int, department string, product_name string"


@pytest.fixture
def silver(spark: SparkSession) -> Tables:
    t100, t101 = dt.datetime(2025, 4, 1, 10), dt.datetime(2025, 4, 1, 11)
    t102 = dt.datetime(2025, 4, 2, 9)
    orders = spark.createDataFrame(
        [
            (100, 1, 1, t100, Decimal("10.00"), D1),
            (101, 2, 2, t101, Decimal("20.01"), D1),
            (102, 3, 1, t102, Decimal("30.00"), D2),
        ],
        ORDERS,
    )
    items = spark.createDataFrame(
        [
            (1, 100, 1, 5, 1, 1, 0, t100, D1),
            (2, 100, 1, 5, 2, 2, 1, t100, D1),
            (3, 101, 2, 10, 1, 1, 1, t101, D1),
            (4, 102, 1, 7, 1, 1, 1, t102, D2),
        ],
        ITEMS,
    )
    products = spark.createDataFrame(
        [(1, 1, "Books", "P1"), (2, 1, "Home", "P2"), (3, 2, "Home", "P3")], PRODUCTS
    )
    return {"orders": orders, "order_items": items, "products": products}
