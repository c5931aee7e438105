"""Gold daily_sales: one row per order_date with orders, revenue, customers and basket figures."""

from __future__ import annotations

from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.cli import job_main
from etl.gold.job import GoldJob, GoldTable, Tables
from etl.gold.measures import items_with_order_date, money
from etl.quality.expectations import RATE, between, rows_where


def build(tables: Tables) -> DataFrame:
    orders = (
        tables["orders"]
        .groupBy("order_date")
        .agg(
            F.count(F.lit(1)).alias("total_orders"),
            F.sum("total_amount").alias("revenue"),
            F.countDistinct("user_id").alias("unique_customers"),
        )
    )
    items = (
        items_with_order_date(tables["order_items"], tables["orders"])
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


def touched(tables: Tables, changes: Tables) -> DataFrame:
    """Days of changed orders (before and after the change), and the days of the orders
    whose lines changed."""
    item_orders = changes["order_items"].select("order_id")
    item_days = tables["orders"].join(F.broadcast(item_orders), "order_id", "left_semi")
    return changes["orders"].select("order_date").unionByName(item_days.select("order_date"))


def limit(tables: Tables, days: DataFrame) -> Tables:
    """Orders of the touched days; their lines follow through the join in `build`."""
    orders = tables["orders"].join(F.broadcast(days), "order_date", "left_semi")
    return {**tables, "orders": orders}


TABLE = GoldTable(
    name="daily_sales",
    key=("order_date",),
    reads=("orders", "order_items"),
    build=build,
    touched=touched,
    limit=limit,
    checks=(
        between("total_orders", 1, None),
        between("total_revenue", 0, None),
        between("reorder_rate", *RATE),
        rows_where(
            "(SELECT sum(total_revenue) FROM {batch}) "
            "<> (SELECT sum(total_amount) FROM silver_orders)",
            "revenue reconciles with silver orders",
        ),
        rows_where(
            "(SELECT sum(total_items) FROM {batch}) <> (SELECT count(*) FROM silver_order_items)",
            "item count reconciles with silver order_items",
        ),
    ),
    description=__doc__ or "",
)


JOB = GoldJob(TABLE)


main = partial(job_main, JOB)  # python -m etl.<layer>.<name>_etl [flags]

if __name__ == "__main__":
    raise SystemExit(main())
