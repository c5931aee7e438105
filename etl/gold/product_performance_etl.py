"""Gold product_performance: per product, units sold, orders, customers, reorders and dates.

Every silver product has a row; products never sold show zero units and no dates.
"""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.changes import values_of
from etl.gold.job import GoldTable, Silver, run_gold
from etl.gold.measures import items_with_order_date, line_measures
from etl.jobs import JobContext, JobResult, job_main

JOB = "gold.product_performance"


def build(silver: Silver) -> DataFrame:
    sales = (
        items_with_order_date(silver.order_items, silver.orders)
        .groupBy("product_id")
        .agg(
            *line_measures(),
            F.avg("add_to_cart_order").cast("double").alias("avg_add_to_cart_order"),
            F.min("order_date").alias("first_order_date"),
            F.max("order_date").alias("last_order_date"),
        )
    )
    return (
        silver.products.select("product_id", "product_name", "department")
        .join(sales, "product_id", "left")
        .select(
            "product_id",
            "product_name",
            "department",
            *[
                F.coalesce(c, F.lit(0)).cast("bigint").alias(c)
                for c in ("units_sold", "order_count", "unique_customers")
            ],
            "reorder_rate",
            "avg_add_to_cart_order",
            "first_order_date",
            "last_order_date",
        )
    )


def touched(silver: Silver, changes: DataFrame) -> DataFrame:
    """Changed products, products of changed items, and products on changed orders."""
    products = values_of(changes, "products", "product_id", "bigint")
    item_products = values_of(changes, "order_items", "product_id", "bigint")
    orders = values_of(changes, "orders", "order_id", "bigint")
    on_orders = silver.order_items.join(F.broadcast(orders), "order_id", "left_semi")
    return products.unionByName(item_products).unionByName(on_orders.select("product_id"))


def limit(silver: Silver, products: DataFrame) -> Silver:
    return replace(
        silver,
        products=silver.products.join(F.broadcast(products), "product_id", "left_semi"),
        order_items=silver.order_items.join(F.broadcast(products), "product_id", "left_semi"),
    )


TABLE = GoldTable(
    name="product_performance",
    key=("product_id",),
    build=build,
    zorder_by=("product_id",),
    touched=touched,
    limit=limit,
)


def run(ctx: JobContext) -> JobResult:
    return run_gold(ctx, TABLE)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, __doc__ or JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
