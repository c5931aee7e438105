"""Bronze: what arrived, losslessly, plus where and when it came from.

Every source column is kept as text; `_extra` holds columns the contract doesn't know (as JSON).
`_row_hash` identifies a row by its file, sheet, row number and content, so ingesting the same
file again adds nothing, while a corrected file adds only the rows that changed.
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.contracts import CONTRACTS
from etl.jobs import JobContext, JobResult
from etl.sources import SourceRows, discover, read_source
from etl.storage import MergeSpec

log = logging.getLogger(__name__)

METADATA = ("_source_sheet", "_source_row", "_extra")


def text_schema(columns: tuple[str, ...]) -> T.StructType:
    return T.StructType(
        [T.StructField(c, T.StringType()) for c in columns]
        + [
            T.StructField("_source_sheet", T.StringType()),
            T.StructField("_source_row", T.IntegerType()),
            T.StructField("_extra", T.StringType()),
        ]
    )


def to_dataframe(spark: SparkSession, parsed: SourceRows) -> DataFrame:
    schema = text_schema(parsed.columns)
    frame = pd.DataFrame(parsed.rows, columns=schema.fieldNames()).astype({"_source_row": "int32"})
    df = spark.createDataFrame(frame, schema)  # Arrow-backed: fast for millions of rows
    return df.withColumn("_source_file", F.lit(parsed.file.name))


def add_metadata(columns: tuple[str, ...], batch_id: str, ingested_at: datetime):  # type: ignore[no-untyped-def]
    """Raw text rows → bronze rows with lineage and a content hash (pure)."""

    def _add(raw: DataFrame) -> DataFrame:
        hashed = [
            F.col("_source_file"),
            F.coalesce(F.col("_source_sheet"), F.lit("")),
            F.col("_source_row").cast("string"),
            *[F.coalesce(F.col(c), F.lit("\u0000")) for c in columns],
            F.coalesce(F.col("_extra"), F.lit("")),
        ]
        return raw.select(
            *columns,
            "_extra",
            "_source_file",
            "_source_sheet",
            "_source_row",
            F.lit(batch_id).alias("_batch_id"),
            F.lit(ingested_at.replace(tzinfo=None)).cast("timestamp").alias("_ingested_at"),
            F.sha2(F.concat_ws("\u001f", *hashed), 256).alias("_row_hash"),
        )

    return _add


def run_bronze(ctx: JobContext, dataset: str) -> JobResult:
    """read → (validate files) → add metadata → insert-only merge; files are all-or-nothing."""
    from etl.bronze.ledger import already_ingested, record_files

    contract = CONTRACTS[dataset]
    columns = contract.source_columns
    table = ctx.path("bronze", dataset)
    result = JobResult(job=f"bronze.{dataset}", table=table)

    files = [
        f for f in discover(ctx.settings.source_dir, ctx.settings.files) if f.dataset == dataset
    ]
    seen = already_ingested(ctx, dataset)
    parsed = []
    for file in files:
        # Raises before anything is written; a file ingested before is not parsed again.
        rows = read_source(file, columns, contract.numeric_source_columns, known=seen)
        if rows is None:
            result.skipped_files += 1
            continue
        parsed.append(rows)
    log.info("%s: %d new file(s), %d unchanged", result.job, len(parsed), result.skipped_files)
    if not parsed:
        if ctx.store.exists(table):
            result.version = ctx.store.version(table)
        return result

    raw = to_dataframe(ctx.spark, parsed[0])
    for more in parsed[1:]:
        raw = raw.unionByName(to_dataframe(ctx.spark, more))
    bronze = raw.transform(add_metadata(columns, ctx.settings.batch_id, ctx.started_at))
    result.rows_read = sum(len(p.rows) for p in parsed)
    merged = ctx.store.merge(bronze, table, MergeSpec(keys=("_row_hash",), update_when="false"))
    result.inserted = merged.inserted
    result.duplicates = result.rows_read - merged.inserted
    result.version = merged.version
    record_files(ctx, dataset, parsed)
    return result
