"""Every job of the lakehouse, in dependency order: the one list.

The pipeline, maintenance, validation, the local query engine, the Glue entry point and the
rendered state machine all derive from `RUNNABLE` (the job objects) and `JOBS` (their specs:
name, layer, the tables each reads and writes, the output's Z-order and partition columns).
Adding a gold table is one new module under etl/gold/ defining `JOB = GoldJob(GoldTable(...))`
plus one line here (docs/architecture.md walks through an example). A table is named
`<layer>/<name>`, which is also its folder under the lakehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from etl.bronze import order_items_etl as bronze_order_items
from etl.bronze import orders_etl as bronze_orders
from etl.bronze import products_etl as bronze_products
from etl.gold import (
    customer_insights_etl,
    daily_sales_etl,
    department_analytics_etl,
    product_performance_etl,
)
from etl.runner import AUDIT_TABLES, LAYERS, Job, JobSpec, Layer
from etl.silver import order_items_etl as silver_order_items
from etl.silver import orders_etl as silver_orders
from etl.silver import products_etl as silver_products

__all__ = ["AUDIT_TABLES", "JOBS", "LAYERS", "RUNNABLE", "JobSpec", "Layer"]

RUNNABLE: tuple[Job[Any, Any], ...] = (
    bronze_products.JOB,
    bronze_orders.JOB,
    bronze_order_items.JOB,
    silver_products.JOB,
    silver_orders.JOB,
    silver_order_items.JOB,
    daily_sales_etl.JOB,
    product_performance_etl.JOB,
    department_analytics_etl.JOB,
    customer_insights_etl.JOB,
)
JOBS: tuple[JobSpec, ...] = tuple(j.spec for j in RUNNABLE)
JOB_NAMES: tuple[str, ...] = tuple(j.name for j in JOBS)


def jobs() -> tuple[Job[Any, Any], ...]:
    """The job objects, in dependency order (read at call time, so `extended` applies)."""
    return RUNNABLE


def specs() -> tuple[JobSpec, ...]:
    return JOBS


def job_names() -> tuple[str, ...]:
    return JOB_NAMES


@contextmanager
def extended(*added: Job[Any, Any]) -> Iterator[None]:
    """The registry with more jobs, after the others, for as long as the block runs (a test's
    throw-away gold table, say). Everything that lists jobs reads the registry when it runs,
    so the pipeline, maintenance, validation and the query engine all see them."""
    global RUNNABLE, JOBS, JOB_NAMES
    saved = RUNNABLE, JOBS, JOB_NAMES
    RUNNABLE = (*RUNNABLE, *added)
    JOBS = tuple(j.spec for j in RUNNABLE)
    JOB_NAMES = tuple(j.name for j in JOBS)
    try:
        yield
    finally:
        RUNNABLE, JOBS, JOB_NAMES = saved


def job(name: str) -> JobSpec:
    for spec in JOBS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def runnable(name: str) -> Job[Any, Any]:
    return RUNNABLE[JOB_NAMES.index(name)]


def select_jobs(selector: str) -> list[JobSpec]:
    """Jobs named by a selector: `all`, a layer (`silver`), or job names and layers separated by
    commas (`bronze,silver.orders`); always in dependency order. ValueError for an unknown
    name."""
    wanted = [s.strip() for s in selector.split(",") if s.strip()]
    unknown = [w for w in wanted if w != "all" and w not in LAYERS and w not in JOB_NAMES]
    if unknown or not wanted:
        raise ValueError(
            f"unknown job or layer: {', '.join(unknown) or '(none given)'}; "
            f"valid: all, {', '.join(LAYERS)}, {', '.join(JOB_NAMES)}"
        )
    return [j for j in JOBS if "all" in wanted or j.layer in wanted or j.name in wanted]


def catalog_tables() -> list[tuple[Layer, str]]:
    """The tables registered in the Glue Data Catalog for Athena: every silver and gold output."""
    return [(j.layer, j.table_name) for j in JOBS if j.layer in ("silver", "gold")]


def all_tables() -> list[str]:
    """Every table any job writes, each once, in job order."""
    return list(dict.fromkeys(t for j in JOBS for t in j.writes))


def datasets() -> tuple[str, ...]:
    """The source datasets: one bronze job each."""
    return tuple(j.table_name for j in JOBS if j.layer == "bronze")


def gold_tables() -> tuple[str, ...]:
    return tuple(j.table_name for j in JOBS if j.layer == "gold")
