"""The silver job shared by every dataset: read → check → split → dedup → merge.

Only bronze rows ingested after the job's last watermark are read. Quarantined rows whose only
faults are missing parents are checked again with them, and leave quarantine once valid.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.audit import last_watermark
from etl.changes import record_changes
from etl.contracts import CONTRACTS, Contract
from etl.errors import EtlError
from etl.jobs import JobContext, JobResult
from etl.quality.row_rules import check, rejected_rows, valid_rows
from etl.silver.conform import (
    latest_per_key,
    newer_than_target,
    quarantine_as_bronze,
    to_quarantine,
    to_silver,
)
from etl.storage import MergeSpec, changed_predicate, in_predicate

log = logging.getLogger(__name__)


def _reason_counts(checked: DataFrame, column: str) -> dict[str, int]:
    rows = checked.select(F.explode(column).alias("reason")).groupBy("reason").count().collect()
    return {r["reason"]: int(r["count"]) for r in sorted(rows, key=lambda r: r["reason"])}


def _partitions_touched(contract: Contract, latest: DataFrame, replaced: DataFrame) -> str | None:
    """A merge filter on the partitions of the batch and of the rows it may replace, so the
    merge reads and rewrites only those partitions of a large table."""
    if not contract.partition_by:
        return None
    column = contract.partition_by[0]
    rows = latest.select(column).unionByName(replaced.select(column)).distinct().collect()
    values = sorted(r[column] for r in rows if r[column] is not None)
    return in_predicate(column, values) if values else None


def run_silver(ctx: JobContext, dataset: str) -> JobResult:
    contract = CONTRACTS[dataset]
    job = f"silver.{dataset}"
    bronze_path = ctx.path("bronze", dataset)
    table = ctx.path("silver", dataset)
    quarantine = ctx.path("quarantine", dataset)
    result = JobResult(job=job, table=table)
    if not ctx.store.exists(bronze_path):
        raise EtlError(f"{job}: no bronze table at {bronze_path}; run bronze.{dataset} first")

    # read
    watermark = last_watermark(ctx, job)
    bronze = ctx.store.read(bronze_path)
    if watermark is not None:
        bronze = bronze.where(F.col("_ingested_at") > F.lit(watermark))
    batch = bronze.withColumn("_retried", F.lit(False))
    if contract.references and ctx.store.exists(quarantine):
        retry = (
            ctx.store.read(quarantine)
            .where(F.col("retryable"))
            .transform(quarantine_as_bronze(contract))
            .withColumn("_retried", F.lit(True))
        )
        batch = batch.unionByName(retry)
    parents = {}
    for ref in contract.references:
        parent_path = ctx.path("silver", ref.parent)
        if not ctx.store.exists(parent_path):
            raise EtlError(
                f"{job}: no silver table at {parent_path}; run silver.{ref.parent} first"
            )
        parents[ref.parent] = ctx.store.read(parent_path)

    # transform and validate
    checked = batch.transform(check(contract, parents)).cache()
    stats = checked.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(F.col("_retried"), 1)).alias("retried"),
        F.count(F.when(F.size("_errors") > 0, 1)).alias("rejected"),
        F.max(F.when(~F.col("_retried"), F.col("_ingested_at"))).alias("watermark"),
    ).collect()[0]
    result.retried = int(stats["retried"])
    result.rows_read = int(stats["rows"]) - result.retried
    result.rejected = int(stats["rejected"])
    result.watermark = stats["watermark"] or watermark
    if stats["rows"] == 0:
        checked.unpersist()
        if ctx.store.exists(table):
            result.version = ctx.store.version(table)
        return result
    result.rejected_by_reason = _reason_counts(checked, "_errors")
    result.warnings_by_reason = _reason_counts(checked, "_warnings")

    # write
    valid = valid_rows(checked)
    # Cached: the change record, the partition filter and the merge all read the batch, and the
    # silver rows it replaces are looked up once (a scan of the key and the recorded columns).
    latest = valid.transform(latest_per_key(contract)).transform(to_silver(contract)).cache()
    target_filter = None
    replaced = None
    if ctx.store.exists(table):
        looked_up = dict.fromkeys([*contract.key, *contract.changes_by, *contract.partition_by])
        replaced = (
            ctx.store.read(table)
            .select(*looked_up)
            .join(latest.select(*contract.key), list(contract.key), "left_semi")
            .cache()
        )
        record_changes(ctx, contract, latest, replaced)
        target_filter = _partitions_touched(contract, latest, replaced)
    else:
        record_changes(ctx, contract, latest)
    merged = ctx.store.merge(
        latest,
        table,
        MergeSpec(
            keys=contract.key,
            update_when=newer_than_target(contract),
            target_filter=target_filter,
            partition_by=contract.partition_by,
        ),
    )
    result.inserted, result.updated, result.version = (
        merged.inserted,
        merged.updated,
        merged.version,
    )
    latest.unpersist()
    if replaced is not None:
        replaced.unpersist()
    if result.rejected or not ctx.store.exists(quarantine):
        rejected = rejected_rows(checked).transform(
            to_quarantine(contract, ctx.run_id, ctx.started_at.strftime("%Y-%m-%d %H:%M:%S"))
        )
        # A row checked again keeps its first quarantine time unless its reasons changed.
        spec = MergeSpec(keys=("_row_hash",), update_when=changed_predicate(["reasons"]))
        ctx.store.merge(rejected, quarantine, spec)
    if result.retried:
        result.released = ctx.store.delete_matching(
            valid.where(F.col("_retried")), quarantine, ("_row_hash",)
        )
    result.duplicates = result.rows_read + result.retried - result.inserted - result.rejected
    checked.unpersist()
    return result
