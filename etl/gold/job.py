"""The gold job shared by every aggregate: read silver → build → merge on the key.

The merge rewrites only rows whose values changed, inserts new keys and deletes keys that no
longer have any source rows, so an unchanged input leaves the table's contents unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame

from etl.errors import EtlError
from etl.jobs import JobContext, JobResult
from etl.storage import MergeSpec, changed_predicate


@dataclass(frozen=True)
class Silver:
    orders: DataFrame
    order_items: DataFrame
    products: DataFrame


@dataclass(frozen=True)
class GoldTable:
    name: str
    key: tuple[str, ...]
    build: Callable[[Silver], DataFrame]
    zorder_by: tuple[str, ...] = ()


def read_silver(ctx: JobContext) -> Silver:
    tables = {}
    for dataset in ("orders", "order_items", "products"):
        path = ctx.path("silver", dataset)
        if not ctx.store.exists(path):
            raise EtlError(f"no silver table at {path}; run silver.{dataset} first")
        tables[dataset] = ctx.store.read(path)
    return Silver(**tables)


def run_gold(ctx: JobContext, gold: GoldTable) -> JobResult:
    table = ctx.path("gold", gold.name)
    result = JobResult(job=f"gold.{gold.name}", table=table)
    built = gold.build(read_silver(ctx))
    values = [c for c in built.columns if c not in gold.key]
    merged = ctx.store.merge(
        built,
        table,
        MergeSpec(
            keys=gold.key, update_when=changed_predicate(values), delete_unmatched_when="true"
        ),
    )
    result.rows_read = merged.source_rows
    result.inserted, result.updated, result.deleted = (
        merged.inserted,
        merged.updated,
        merged.deleted,
    )
    result.version = merged.version
    return result
