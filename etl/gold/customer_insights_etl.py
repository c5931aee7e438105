"""Gold customer_insights: orders, spend, habits, favourite department and segment per customer.

Segments (checked in this order):
- `champion`: 3 or more orders;
- `loyal`: 2 orders;
- `big_spender`: 1 order of at least BIG_SPEND;
- `new`: 1 order below BIG_SPEND.
"""

from __future__ import annotations

from functools import partial

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl.cli import job_main
from etl.gold.job import GoldJob, GoldTable, Tables
from etl.gold.measures import money
from etl.quality.expectations import RATE, Check, between, rows_where

BIG_SPEND = 400


def segment(total_orders: Column, total_spend: Column) -> Column:
    return (
        F.when(total_orders >= 3, "champion")
        .when(total_orders == 2, "loyal")
        .when(total_spend >= BIG_SPEND, "big_spender")
        .otherwise("new")
    )


def favourite_department(items: DataFrame, products: DataFrame) -> DataFrame:
    """The department a customer bought most units from; ties go to the first name."""
    units = (
        items.join(products.select("product_id", "department"), "product_id")
        .groupBy("user_id", "department")
        .agg(F.count(F.lit(1)).alias("units"))
    )
    rank = Window.partitionBy("user_id").orderBy(F.desc("units"), F.asc("department"))
    return (
        units.withColumn("_rank", F.row_number().over(rank))
        .where("_rank = 1")
        .select("user_id", F.col("department").alias("favourite_department"))
    )


def build(tables: Tables) -> DataFrame:
    orders = (
        tables["orders"]
        .groupBy("user_id")
        .agg(
            F.count(F.lit(1)).alias("total_orders"),
            F.sum("total_amount").alias("spend"),
            F.min("order_timestamp").alias("first_order_at"),
            F.max("order_timestamp").alias("last_order_at"),
        )
    )
    items = (
        tables["order_items"]
        .groupBy("user_id")
        .agg(
            F.count(F.lit(1)).alias("total_items"),
            F.avg("reordered").cast("double").alias("reorder_rate"),
            F.avg("days_since_prior_order").cast("double").alias("avg_days_since_prior_order"),
        )
    )
    favourite = favourite_department(tables["order_items"], tables["products"])
    return (
        orders.join(items, "user_id", "left")
        .join(favourite, "user_id", "left")
        .select(
            "user_id",
            "total_orders",
            money(F.col("spend")).alias("total_spend"),
            money(F.col("spend") / F.col("total_orders")).alias("avg_order_value"),
            "first_order_at",
            "last_order_at",
            F.coalesce("total_items", F.lit(0)).cast("bigint").alias("total_items"),
            "reorder_rate",
            "avg_days_since_prior_order",
            "favourite_department",
            segment(F.col("total_orders"), F.col("spend")).alias("segment"),
        )
    )


def touched(tables: Tables, changes: Tables) -> DataFrame | None:
    """Customers of changed orders and lines; any product change (a department renamed can
    move favourite departments) rebuilds the table."""
    if not changes["products"].isEmpty():
        return None
    users = changes["orders"].select("user_id")
    return users.unionByName(changes["order_items"].select("user_id"))


def limit(tables: Tables, users: DataFrame) -> Tables:
    return {
        **tables,
        "orders": tables["orders"].join(users, "user_id", "left_semi"),
        "order_items": tables["order_items"].join(users, "user_id", "left_semi"),
    }


TABLE = GoldTable(
    name="customer_insights",
    key=("user_id",),
    reads=("orders", "order_items", "products"),
    build=build,
    zorder_by=("user_id",),
    touched=touched,
    limit=limit,
    checks=(
        between("total_orders", 1, None),
        between("total_spend", 0, None),
        between("reorder_rate", *RATE),
        Check(
            "ExpectColumnValuesToBeInSet",
            {"column": "segment", "value_set": ["champion", "loyal", "big_spender", "new"]},
            description="segment is a known one",
        ),
        rows_where("first_order_at > last_order_at", "first order not after last"),
    ),
    description=__doc__ or "",
)


JOB = GoldJob(TABLE)


main = partial(job_main, JOB)  # python -m etl.<layer>.<name>_etl [flags]

if __name__ == "__main__":
    raise SystemExit(main())
