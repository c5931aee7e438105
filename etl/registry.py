"""Every job of the lakehouse, in dependency order, with the tables it reads and writes.

This is the one list: the pipeline, the single-job entry points, maintenance, validation, the
local query engine, the Glue entry point and the rendered state machine all derive from it.
A table is named `<layer>/<name>`, which is also its folder under the lakehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Layer = Literal["bronze", "silver", "gold"]
LAYERS: tuple[Layer, ...] = ("bronze", "silver", "gold")

RUNS = "_audit/runs"
INGESTED_FILES = "_audit/ingested_files"
DQ_RESULTS = "_audit/dq_results"
AUDIT_TABLES = (RUNS, INGESTED_FILES, DQ_RESULTS)


@dataclass(frozen=True)
class JobSpec:
    """One job: its name (`<layer>.<name>`), its module and the tables it reads and writes."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]

    @property
    def layer(self) -> Layer:
        layer = self.name.split(".", 1)[0]
        assert layer in LAYERS, self.name
        return layer  # type: ignore[return-value]

    @property
    def table_name(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def output(self) -> str:
        """The table the job publishes (its first write)."""
        return self.writes[0]

    @property
    def module(self) -> str:
        return f"etl.{self.layer}.{self.table_name}_etl"


def _bronze(dataset: str) -> JobSpec:
    return JobSpec(
        f"bronze.{dataset}", reads=(), writes=(f"bronze/{dataset}", INGESTED_FILES, RUNS)
    )


def _silver(dataset: str, parents: tuple[str, ...] = ()) -> JobSpec:
    return JobSpec(
        f"silver.{dataset}",
        reads=(f"bronze/{dataset}", *(f"silver/{p}" for p in parents)),
        writes=(f"silver/{dataset}", f"quarantine/{dataset}", RUNS, DQ_RESULTS),
    )


def _gold(name: str, reads: tuple[str, ...]) -> JobSpec:
    return JobSpec(
        f"gold.{name}",
        reads=tuple(f"silver/{r}" for r in reads),
        writes=(f"gold/{name}", RUNS, DQ_RESULTS),
    )


JOBS: tuple[JobSpec, ...] = (
    _bronze("products"),
    _bronze("orders"),
    _bronze("order_items"),
    _silver("products"),
    _silver("orders"),
    _silver("order_items", parents=("orders", "products")),
    _gold("daily_sales", ("orders", "order_items")),
    _gold("product_performance", ("products", "order_items", "orders")),
    _gold("department_analytics", ("products", "order_items")),
    _gold("customer_insights", ("orders", "order_items", "products")),
)
JOB_NAMES: tuple[str, ...] = tuple(j.name for j in JOBS)


def job(name: str) -> JobSpec:
    for spec in JOBS:
        if spec.name == name:
            return spec
    raise KeyError(name)


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
