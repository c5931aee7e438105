"""Gold department_analytics: per department name, units, orders, customers and unit share.

Grouped by the department *name*: in the source data department_id does not map one-to-one to
names (reported as the products warning `department_id.ambiguous`).
"""

from __future__ import annotations

from functools import partial

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.cli import job_main
from etl.gold.job import GoldJob, GoldTable, Tables
from etl.gold.measures import line_measures
from etl.quality.expectations import RATE, Check, between


def build(tables: Tables) -> DataFrame:
    departments = tables["products"].select("department").distinct()
    sales = (
        tables["order_items"]
        .join(tables["products"].select("product_id", "department"), "product_id")
        .groupBy("department")
        .agg(*line_measures(), F.countDistinct("product_id").alias("products_sold"))
    )
    counts = ("units_sold", "order_count", "unique_customers", "products_sold")
    joined = departments.join(sales, "department", "left").select(
        "department",
        *[F.coalesce(c, F.lit(0)).cast("bigint").alias(c) for c in counts],
        "reorder_rate",
    )
    total = F.sum("units_sold").over(Window.partitionBy())
    return joined.select(
        "department",
        "units_sold",
        "order_count",
        "unique_customers",
        "reorder_rate",
        "products_sold",
        F.when(total > 0, F.col("units_sold") / total).cast("double").alias("share_of_units"),
    )


TABLE = GoldTable(
    name="department_analytics",
    key=("department",),
    reads=("products", "order_items"),
    build=build,
    checks=(
        between("share_of_units", *RATE),
        Check(
            "ExpectColumnSumToBeBetween",
            {"column": "share_of_units", "min_value": 0.999999, "max_value": 1.000001},
            description="shares add up to 1",
        ),
    ),
    description=__doc__ or "",
)


JOB = GoldJob(TABLE)


main = partial(job_main, JOB)  # python -m etl.<layer>.<name>_etl [flags]

if __name__ == "__main__":
    raise SystemExit(main())
