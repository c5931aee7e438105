"""The gold job shared by every aggregate: read silver → build → merge on the key.

A table is built in full the first time. Later runs read the silver changes recorded since
the job's watermark (`etl.changes`), derive the gold keys they touch (`GoldTable.touched`),
rebuild just those keys from silver limited to them (`GoldTable.limit`) and merge them; keys
with no rows left are deleted. A table without `touched` (or whose inputs changed in a way it
cannot scope) is rebuilt in full. Either way the merge rewrites only rows whose values changed,
so an unchanged input leaves the table's contents unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.audit import last_watermark
from etl.changes import changes_since
from etl.errors import EtlError
from etl.jobs import JobContext, JobResult
from etl.storage import MergeSpec, changed_predicate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Silver:
    orders: DataFrame
    order_items: DataFrame
    products: DataFrame


@dataclass(frozen=True)
class GoldTable:
    """A gold aggregate: its key, how to build it from silver, and how to scope a rebuild.

    touched: the gold keys (one column, named like the key) that recorded silver changes
        affect, or None when the changes cannot be scoped and the table must be rebuilt.
    limit: silver restricted to the rows that every touched key is computed from.
    """

    name: str
    key: tuple[str, ...]
    build: Callable[[Silver], DataFrame]
    zorder_by: tuple[str, ...] = ()
    touched: Callable[[Silver, DataFrame], DataFrame | None] | None = None
    limit: Callable[[Silver, DataFrame], Silver] | None = None


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
    silver = read_silver(ctx)
    watermark = last_watermark(ctx, result.job)
    changes = changes_since(ctx, watermark)
    # A table built before, with a scope, rebuilds only the keys the changes touched.
    touched = gold.touched if watermark is not None and ctx.store.exists(table) else None
    keys = None
    if changes is not None:
        changes = changes.cache() if touched else changes  # read again by `touched`
        result.watermark = changes.agg(F.max("changed_at")).collect()[0][0] or watermark
        keys = touched(silver, changes) if touched else None
    if keys is None:
        _merge_full(ctx, gold, table, gold.build(silver), result)
    else:
        keys = keys.distinct().cache()
        count = keys.count()
        log.info("%s: rebuilding %d touched key(s)", result.job, count)
        if count == 0:
            result.version = ctx.store.version(table)
        else:
            assert gold.limit is not None, f"{gold.name}: touched without limit"
            _merge_keys(ctx, gold, table, gold.build(gold.limit(silver, keys)), keys, result)
        keys.unpersist()
    if changes is not None:
        changes.unpersist()  # a no-op when it was not cached
    return result


def _spec(gold: GoldTable, built: DataFrame, delete_unmatched_when: str | None) -> MergeSpec:
    values = [c for c in built.columns if c not in gold.key]
    return MergeSpec(
        keys=gold.key,
        update_when=changed_predicate(values),
        delete_unmatched_when=delete_unmatched_when,
    )


def _merge_full(
    ctx: JobContext, gold: GoldTable, table: str, built: DataFrame, result: JobResult
) -> None:
    merged = ctx.store.merge(built, table, _spec(gold, built, "true"))
    result.rows_read = merged.source_rows
    result.inserted, result.updated, result.deleted = (
        merged.inserted,
        merged.updated,
        merged.deleted,
    )
    result.version = merged.version


def _merge_keys(
    ctx: JobContext,
    gold: GoldTable,
    table: str,
    built: DataFrame,
    keys: DataFrame,
    result: JobResult,
) -> None:
    """Merge the rebuilt rows of the touched keys; delete touched keys left without rows."""
    built = built.cache()
    merged = ctx.store.merge(built, table, _spec(gold, built, None))
    vanished = keys.join(built.select(*gold.key), list(gold.key), "left_anti")
    deleted = ctx.store.delete_matching(vanished, table, gold.key) if not vanished.isEmpty() else 0
    built.unpersist()
    result.rows_read = merged.source_rows
    result.inserted, result.updated, result.deleted = merged.inserted, merged.updated, deleted
    result.version = ctx.store.version(table)
