"""Measures shared by the gold tables, so each is defined once."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

MONEY = "decimal(18,2)"


def money(column: Column) -> Column:
    return column.cast(MONEY)


def items_with_order_date(silver_items: DataFrame, silver_orders: DataFrame) -> DataFrame:
    """Order lines dated by their order (the order's latest timestamp is the truth)."""
    return silver_items.drop("order_date").join(
        silver_orders.select("order_id", "order_date"), "order_id"
    )


def line_measures() -> list[Column]:
    return [
        F.count(F.lit(1)).alias("units_sold"),
        F.countDistinct("order_id").alias("order_count"),
        F.countDistinct("user_id").alias("unique_customers"),
        F.avg("reordered").cast("double").alias("reorder_rate"),
    ]
