"""What each silver merge touched, so gold recomputes only the keys a batch changed.

Before a silver merge, the job records in `<lakehouse>/_audit/changes` the values of the
contract's `changes_by` columns for every incoming row and for every silver row it may replace
(an order whose new version moves to another day touches both days). Gold reads the changes
newer than its own watermark. Recording a superset is safe: a touched key is only recomputed.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.contracts import Contract
from etl.jobs import JobContext
from etl.storage import MergeSpec

CHANGES_SCHEMA = T.StructType(
    [
        T.StructField("dataset", T.StringType()),
        T.StructField("kind", T.StringType()),
        T.StructField("value", T.StringType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("changed_at", T.TimestampType()),
    ]
)


def changes_path(ctx: JobContext) -> str:
    return ctx.path("_audit", "changes")


def touched_values(contract: Contract, *frames: DataFrame) -> DataFrame:
    """Distinct (kind, value) pairs of the contract's `changes_by` columns over the frames."""
    columns = list(contract.changes_by)
    rows = frames[0].select(*columns)
    for frame in frames[1:]:
        rows = rows.unionByName(frame.select(*columns))
    pairs = F.array(
        *[F.struct(F.lit(c).alias("kind"), F.col(c).cast("string").alias("value")) for c in columns]
    )
    return (
        rows.select(F.explode(pairs).alias("p"))
        .select("p.kind", "p.value")
        .where(F.col("value").isNotNull())
        .distinct()
    )


def record_changes(ctx: JobContext, contract: Contract, *frames: DataFrame) -> None:
    if not contract.changes_by:
        return
    changed_at = ctx.started_at.replace(tzinfo=None)
    rows = touched_values(contract, *frames).select(
        F.lit(contract.dataset).alias("dataset"),
        "kind",
        "value",
        F.lit(ctx.run_id).alias("run_id"),
        F.lit(changed_at).cast("timestamp").alias("changed_at"),
    )
    spec = MergeSpec(
        keys=("dataset", "kind", "value", "run_id"),
        update_when="false",
        target_filter=f"t.run_id = '{ctx.run_id}'",
    )
    ctx.store.merge(rows, changes_path(ctx), spec)


def changes_since(ctx: JobContext, watermark: datetime | None) -> DataFrame | None:
    """Changes recorded after the watermark; None when nothing was ever recorded."""
    if not ctx.store.exists(changes_path(ctx)):
        return None
    changes = ctx.store.read(changes_path(ctx))
    if watermark is not None:
        changes = changes.where(F.col("changed_at") > F.lit(watermark.replace(tzinfo=None)))
    return changes


def values_of(changes: DataFrame, dataset: str, kind: str, dtype: str) -> DataFrame:
    """One column named `kind` with the distinct touched values, typed."""
    return (
        changes.where((F.col("dataset") == dataset) & (F.col("kind") == kind))
        .select(F.col("value").cast(dtype).alias(kind))
        .distinct()
    )
