"""Bronze: what arrived, losslessly, plus where and when it came from.

Every source column is kept as text; `_extra` holds columns the contract doesn't know (as JSON).
`_row_hash` identifies a row by its file, sheet, row number and content, so ingesting the same
file again adds nothing, while a corrected file adds only the rows that changed.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.contracts import CONTRACTS
from etl.jobs import JobContext, JobResult
from etl.sources import SheetSink, SourceRows, discover, read_source
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


def stage(folder: Path, file_name: str, columns: tuple[str, ...]) -> SheetSink:
    """A sink that writes each worksheet's rows to a Parquet file of text columns.

    Bronze reads every file of a batch before it writes any (a batch is all-or-nothing), so the
    parsed rows go to local Parquet one sheet at a time and are released: memory holds one
    worksheet, not the batch. Spark then reads the staging folder like any other Parquet.
    """
    names = text_schema(columns).fieldNames()

    def _write(_sheet: str | None, rows: list[tuple[object, ...]]) -> None:
        values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = [
            pa.array(column, type=pa.int32() if name == "_source_row" else pa.string())
            for name, column in zip(names, values, strict=True)
        ]
        arrays.append(pa.array([file_name] * len(rows), type=pa.string()))
        path = folder / f"part-{len(list(folder.iterdir())):05d}.parquet"
        pq.write_table(pa.Table.from_arrays(arrays, names=[*names, "_source_file"]), path)

    return _write


def to_dataframe(spark: SparkSession, parsed: SourceRows) -> DataFrame:
    """One file's rows as a DataFrame through Arrow (held by the driver until the write)."""
    schema = text_schema(parsed.columns)
    frame = pd.DataFrame(parsed.rows, columns=schema.fieldNames()).astype({"_source_row": "int32"})
    df = spark.createDataFrame(frame, schema)
    return df.withColumn("_source_file", F.lit(parsed.file.name))


def read_staged(spark: SparkSession, folder: Path, columns: tuple[str, ...]) -> DataFrame:
    schema = text_schema(columns).add("_source_file", T.StringType())
    return spark.read.schema(schema).parquet(str(folder))


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
    from etl.bronze.ledger import IngestedFile, already_ingested, record_files

    contract = CONTRACTS[dataset]
    columns = contract.source_columns
    table = ctx.path("bronze", dataset)
    result = JobResult(job=f"bronze.{dataset}", table=table)

    files = [
        f for f in discover(ctx.settings.source_dir, ctx.settings.files) if f.dataset == dataset
    ]
    seen = already_ingested(ctx, dataset)
    folder = Path(tempfile.mkdtemp(prefix="etl-bronze-"))
    try:
        ingested = []
        frames: list[DataFrame] = []
        local = str(ctx.spark.sparkContext.master).startswith("local")
        for file in files:
            # Raises before anything is written; a file ingested before is not parsed again.
            # On a cluster, executors cannot read the driver's disk: rows go through Arrow.
            sink = stage(folder, file.name, columns) if local else None
            numeric = contract.numeric_source_columns
            rows = read_source(file, columns, numeric, known=seen, sink=sink)
            if rows is None:
                result.skipped_files += 1
                continue
            if not local:
                frames.append(to_dataframe(ctx.spark, rows))
            ingested.append(IngestedFile.of(rows))
            del rows
        skipped = result.skipped_files
        log.info("%s: %d new file(s), %d unchanged", result.job, len(ingested), skipped)
        if not ingested:
            if ctx.store.exists(table):
                result.version = ctx.store.version(table)
            return result
        raw = read_staged(ctx.spark, folder, columns) if local else frames[0]
        for frame in frames[1:]:
            raw = raw.unionByName(frame)
        bronze = raw.transform(add_metadata(columns, ctx.settings.batch_id, ctx.started_at))
        result.rows_read = sum(f.rows for f in ingested)
        spec = MergeSpec(keys=("_row_hash",), update_when="false")
        merged = ctx.store.merge(bronze, table, spec)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.inserted = merged.inserted
    result.duplicates = result.rows_read - merged.inserted
    result.version = merged.version
    record_files(ctx, dataset, ingested)
    return result
