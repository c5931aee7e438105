"""Gold product_performance: per product, units sold, orders, customers, reorders and dates.

Every silver product has a row; products never sold show zero units and no dates.
"""

from __future__ import annotations

from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.cli import job_main
from etl.gold.job import GoldJob, GoldTable, Tables
from etl.gold.measures import items_with_order_date, line_measures
from etl.quality.expectations import RATE, between, rows_where


def build(tables: Tables) -> DataFrame:
    sales = (
        items_with_order_date(tables["order_items"], tables["orders"])
        .groupBy("product_id")
        .agg(
            *line_measures(),
            F.avg("add_to_cart_order").cast("double").alias("avg_add_to_cart_order"),
            F.min("order_date").alias("first_order_date"),
            F.max("order_date").alias("last_order_date"),
        )
    )
    return (
        tables["products"]
        .select("product_id", "product_name", "department")
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


def touched(tables: Tables, changes: Tables) -> DataFrame:
    """Changed products, products of changed lines, and products on changed orders."""
    orders = changes["orders"].select("order_id")
    on_orders = tables["order_items"].join(F.broadcast(orders), "order_id", "left_semi")
    return (
        changes["products"]
        .select("product_id")
        .unionByName(changes["order_items"].select("product_id"))
        .unionByName(on_orders.select("product_id"))
    )


def limit(tables: Tables, products: DataFrame) -> Tables:
    return {
        **tables,
        "products": tables["products"].join(F.broadcast(products), "product_id", "left_semi"),
        "order_items": tables["order_items"].join(F.broadcast(products), "product_id", "left_semi"),
    }


TABLE = GoldTable(
    name="product_performance",
    key=("product_id",),
    reads=("products", "order_items", "orders"),
    build=build,
    zorder_by=("product_id",),
    touched=touched,
    limit=limit,
    checks=(
        between("units_sold", 0, None),
        between("reorder_rate", *RATE),
        rows_where("order_count > units_sold", "an order holds at least one unit"),
        rows_where("first_order_date > last_order_date", "first order not after last"),
    ),
    description=__doc__ or "",
)


JOB = GoldJob(TABLE)


main = partial(job_main, JOB)  # python -m etl.<layer>.<name>_etl [flags]

if __name__ == "__main__":
    raise SystemExit(main())
