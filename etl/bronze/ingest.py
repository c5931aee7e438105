"""Bronze: what arrived, losslessly, plus where and when it came from.

Every source column is kept as text; `_extra` holds columns the contract doesn't know (as JSON).
`_row_hash` identifies a row by its file, sheet, row number and content, so ingesting the same
file again adds nothing, while a corrected file adds only the rows that changed.

read → transform → check → write:
- read: the dataset's files not yet in the ledger, parsed one worksheet at a time; each sheet is
  staged as Parquet under `<lakehouse>/_staging/<run>/` and released, so the driver holds one
  sheet, locally and on a cluster alike (executors read the lakehouse's storage);
- transform: lineage columns and the row hash (pure);
- check: the files' structure was checked while reading (a bad file raises before any write);
- write: one insert-only merge by `_row_hash` whose commit lists the files (the ledger rows
  written after it are derived from that commit).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.audit import ingested_files, record_files
from etl.bookkeeping import DATA, state_info
from etl.contracts import Contract
from etl.quality.expectations import Check
from etl.runner import INGESTED_FILES, RUNS, JobContext, JobResult, JobSpec, NothingNew
from etl.sources import SheetSink, SourceFile, discover, read_source
from etl.storage import MergeSpec

log = logging.getLogger(__name__)

STAGING = "_staging"
BRONZE_KEY = MergeSpec(keys=("_row_hash",), update_when="false")


def text_schema(columns: tuple[str, ...]) -> T.StructType:
    return T.StructType(
        [T.StructField(c, T.StringType()) for c in columns]
        + [
            T.StructField("_source_sheet", T.StringType()),
            T.StructField("_source_row", T.IntegerType()),
            T.StructField("_extra", T.StringType()),
            T.StructField("_source_file", T.StringType()),
        ]
    )


class Staging:
    """A folder under the lakehouse (local or s3://) that parsed worksheets are written to."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/") if "://" in uri else os.path.abspath(uri)
        self.fs, self.root = pafs.FileSystem.from_uri(self.uri)
        self.parts = 0

    def sink(self, file_name: str, columns: tuple[str, ...]) -> SheetSink:
        schema = text_schema(columns)
        names = schema.fieldNames()

        def _write(_sheet: str | None, rows: list[tuple[object, ...]]) -> None:
            values = list(zip(*rows, strict=True)) if rows else [() for _ in names[:-1]]
            arrays = [
                pa.array(column, type=pa.int32() if name == "_source_row" else pa.string())
                for name, column in zip(names[:-1], values, strict=True)
            ]
            arrays.append(pa.array([file_name] * len(rows), type=pa.string()))
            self.fs.create_dir(self.root, recursive=True)
            part = f"{self.root}/part-{self.parts:05d}.parquet"
            pq.write_table(pa.Table.from_arrays(arrays, names=names), part, filesystem=self.fs)
            self.parts += 1

        return _write

    def read(self, spark: SparkSession, columns: tuple[str, ...]) -> DataFrame:
        return spark.read.schema(text_schema(columns)).parquet(self.uri)

    def remove(self) -> None:
        info = self.fs.get_file_info(self.root)
        if info.type != pafs.FileType.NotFound:
            self.fs.delete_dir(self.root)


def _warming(ctx: JobContext, sink: SheetSink) -> SheetSink:
    """The sink, starting the run's slow parts (Spark) once a first new sheet is parsed, so
    they start while the rest of the file is parsed."""

    def _write(sheet: str | None, rows: list[tuple[object, ...]]) -> None:
        ctx.warm_up()
        sink(sheet, rows)

    return _write


def clear_staging(lakehouse_dir: str) -> None:
    """Remove what a crashed run left in `_staging` (called under the lakehouse lock)."""
    Staging(f"{lakehouse_dir.rstrip('/')}/{STAGING}").remove()


def add_metadata(
    columns: tuple[str, ...], batch_id: str, ingested_at: datetime
) -> Callable[[DataFrame], DataFrame]:
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


@dataclass
class Parsed:
    """The new files of a batch, parsed and staged."""

    files: list[dict[str, Any]]
    staging: Staging
    skipped: int
    rows_df: DataFrame | None = None  # the bronze rows, once transformed

    @property
    def rows(self) -> int:
        return sum(int(f["rows"]) for f in self.files)


class BronzeJob:
    """Ingests one dataset's source files into `bronze/<dataset>`."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        dataset = contract.dataset
        self.spec = JobSpec(
            f"bronze.{dataset}",
            reads=(),
            writes=(f"bronze/{dataset}", INGESTED_FILES, RUNS),
            description=f"every {dataset} source file, as text, with lineage",
        )

    def expectations(self, ctx: JobContext | None = None) -> list[Check]:
        return []

    def files(self, ctx: JobContext) -> list[SourceFile]:
        found = discover(ctx.settings.source_dir, ctx.settings.files)
        return [f for f in found if f.dataset == self.contract.dataset]

    def read(self, ctx: JobContext) -> Parsed | NothingNew:
        seen = ingested_files(ctx, self.contract.dataset)
        staging = Staging(ctx.path(f"{STAGING}/{ctx.run_id}/{self.contract.dataset}"))
        parsed = Parsed([], staging, 0)
        columns = self.contract.source_columns
        numeric = self.contract.numeric_source_columns
        try:
            for file in self.files(ctx):
                # Raises before anything is written; a file ingested before is not parsed again.
                sink = staging.sink(file.name, columns)
                rows = read_source(file, columns, numeric, known=seen, sink=_warming(ctx, sink))
                if rows is None:
                    parsed.skipped += 1
                    continue
                parsed.files.append(
                    {
                        "name": file.name,
                        "sha256": rows.sha256,
                        "rows": rows.row_count,
                        "blank_rows": rows.blank_rows,
                        "extra_columns": list(rows.extra_columns),
                    }
                )
        except BaseException:
            staging.remove()
            raise
        log.info(
            "%s: %d new file(s), %d ingested before",
            self.spec.name,
            len(parsed.files),
            parsed.skipped,
        )
        if not parsed.files:
            staging.remove()
            return NothingNew("no new files", skipped_files=parsed.skipped)
        return parsed

    def transform(self, ctx: JobContext, parsed: Parsed) -> Parsed:
        raw = parsed.staging.read(ctx.spark, self.contract.source_columns)
        columns = self.contract.source_columns
        parsed.rows_df = raw.transform(add_metadata(columns, ctx.settings.batch_id, ctx.started_at))
        return parsed

    def check(self, ctx: JobContext, parsed: Parsed) -> None:
        """Nothing left to check: read_source refused any file it could not map."""

    def write(self, ctx: JobContext, parsed: Parsed) -> JobResult:
        table = ctx.path(self.spec.output)
        result = JobResult(self.spec.name, table, rows_read=parsed.rows)
        result.skipped_files = parsed.skipped
        result.input = ", ".join(f["name"] for f in parsed.files)
        assert parsed.rows_df is not None
        try:
            label = ctx.commit(
                DATA,
                started_at=ctx.started_at.isoformat(),
                state=state_info({}),
                files=parsed.files,
                result=result.counts(),
            )
            merged = ctx.store.merge(parsed.rows_df, table, BRONZE_KEY, label)
        finally:
            parsed.staging.remove()
        result.inserted = merged.inserted
        result.duplicates = result.rows_read - merged.inserted
        result.version = merged.version
        record_files(ctx, self.contract.dataset, parsed.files)
        return result
