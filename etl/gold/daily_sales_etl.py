"""Gold daily_sales: one row per order_date with orders, revenue, customers and basket figures."""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.changes import values_of
from etl.gold.job import GoldTable, Silver, run_gold
from etl.gold.measures import items_with_order_date, money
from etl.jobs import JobContext, JobResult, job_main

JOB = "gold.daily_sales"


def build(silver: Silver) -> DataFrame:
    orders = silver.orders.groupBy("order_date").agg(
        F.count(F.lit(1)).alias("total_orders"),
        F.sum("total_amount").alias("revenue"),
        F.countDistinct("user_id").alias("unique_customers"),
    )
    items = (
        items_with_order_date(silver.order_items, silver.orders)
        .groupBy("order_date")
        .agg(
            F.count(F.lit(1)).alias("total_items"),
            F.avg("reordered").cast("double").alias("reorder_rate"),
        )
    )
    return orders.join(items, "order_date", "left").select(
        "order_date",
        "total_orders",
        money(F.col("revenue")).alias("total_revenue"),
        money(F.col("revenue") / F.col("total_orders")).alias("avg_order_value"),
        "unique_customers",
        F.coalesce("total_items", F.lit(0)).cast("bigint").alias("total_items"),
        (F.coalesce("total_items", F.lit(0)) / F.col("total_orders")).alias("items_per_order"),
        "reorder_rate",
    )


def touched(silver: Silver, changes: DataFrame) -> DataFrame:
    """Days of changed orders, and the days of the orders whose items changed."""
    days = values_of(changes, "orders", "order_date", "date")
    item_orders = values_of(changes, "order_items", "order_id", "bigint")
    item_days = silver.orders.join(F.broadcast(item_orders), "order_id", "left_semi")
    return days.unionByName(item_days.select("order_date"))


def limit(silver: Silver, days: DataFrame) -> Silver:
    """Orders of the touched days; their items follow through the join in `build`."""
    return replace(silver, orders=silver.orders.join(F.broadcast(days), "order_date", "left_semi"))


TABLE = GoldTable(
    name="daily_sales", key=("order_date",), build=build, touched=touched, limit=limit
)


def run(ctx: JobContext) -> JobResult:
    return run_gold(ctx, TABLE)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, __doc__ or JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
