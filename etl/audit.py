"""The run-audit table `<lakehouse>/_audit/runs`: one row per run and job."""

from __future__ import annotations

import json
from datetime import datetime

from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.jobs import JobContext, JobResult
from etl.storage import MergeSpec

RUNS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("batch_id", T.StringType()),
        T.StructField("job", T.StringType()),
        T.StructField("table_path", T.StringType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("seconds", T.DoubleType()),
        T.StructField("rows_read", T.LongType()),
        T.StructField("retried", T.LongType()),
        T.StructField("inserted", T.LongType()),
        T.StructField("updated", T.LongType()),
        T.StructField("deleted", T.LongType()),
        T.StructField("rejected", T.LongType()),
        T.StructField("duplicates", T.LongType()),
        T.StructField("released", T.LongType()),
        T.StructField("rejected_by_reason", T.StringType()),
        T.StructField("warnings_by_reason", T.StringType()),
        T.StructField("delta_version", T.LongType()),
        T.StructField("watermark", T.TimestampType()),
    ]
)


def runs_path(ctx: JobContext) -> str:
    return ctx.path("_audit", "runs")


def record_run(ctx: JobContext, result: JobResult) -> None:
    row = (
        ctx.run_id,
        ctx.settings.batch_id,
        result.job,
        result.table,
        ctx.started_at.replace(tzinfo=None),
        float(result.seconds),
        result.rows_read,
        result.retried,
        result.inserted,
        result.updated,
        result.deleted,
        result.rejected,
        result.duplicates,
        result.released,
        json.dumps(result.rejected_by_reason, sort_keys=True),
        json.dumps(result.warnings_by_reason, sort_keys=True),
        result.version,
        result.watermark.replace(tzinfo=None) if result.watermark else None,
    )
    df = ctx.spark.createDataFrame([row], RUNS_SCHEMA)
    ctx.store.merge(df, runs_path(ctx), MergeSpec(keys=("run_id", "job")))


def last_watermark(ctx: JobContext, job: str) -> datetime | None:
    """The newest bronze ingestion time a job has already processed."""
    if not ctx.store.exists(runs_path(ctx)):
        return None
    row = (
        ctx.store.read(runs_path(ctx))
        .where(F.col("job") == job)
        .agg(F.max("watermark").alias("w"))
        .collect()[0]
    )
    value = row["w"]
    return value if isinstance(value, datetime) else None
