"""The processed-files ledger `<lakehouse>/_audit/ingested_files`.

Glue job bookmarks don't work with Delta, so the lakehouse keeps its own record of which file
contents it has ingested: a file seen before with the same SHA-256 is not even parsed again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.jobs import JobContext
from etl.sources import SourceRows
from etl.storage import MergeSpec

LEDGER_SCHEMA = T.StructType(
    [
        T.StructField("dataset", T.StringType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("sha256", T.StringType()),
        T.StructField("rows", T.LongType()),
        T.StructField("blank_rows", T.LongType()),
        T.StructField("extra_columns", T.StringType()),
        T.StructField("batch_id", T.StringType()),
        T.StructField("ingested_at", T.TimestampType()),
    ]
)


def ledger_path(ctx: JobContext) -> str:
    return ctx.path("_audit", "ingested_files")


def already_ingested(ctx: JobContext, dataset: str) -> set[tuple[str, str]]:
    if not ctx.store.exists(ledger_path(ctx)):
        return set()
    rows = (
        ctx.store.read(ledger_path(ctx))
        .where(F.col("dataset") == dataset)
        .select("source_file", "sha256")
        .collect()
    )
    return {(r["source_file"], r["sha256"]) for r in rows}


@dataclass(frozen=True)
class IngestedFile:
    """What the ledger keeps of a parsed file, once its rows are staged and released."""

    name: str
    sha256: str
    rows: int
    blank_rows: int
    extra_columns: tuple[str, ...]

    @classmethod
    def of(cls, parsed: SourceRows) -> IngestedFile:
        return cls(
            parsed.file.name,
            parsed.sha256,
            parsed.row_count,
            parsed.blank_rows,
            parsed.extra_columns,
        )


def record_files(ctx: JobContext, dataset: str, ingested: list[IngestedFile]) -> None:
    rows = [
        (
            dataset,
            p.name,
            p.sha256,
            p.rows,
            p.blank_rows,
            ",".join(p.extra_columns) or None,
            ctx.settings.batch_id,
            ctx.started_at.replace(tzinfo=None),
        )
        for p in ingested
    ]
    df = ctx.spark.createDataFrame(rows, LEDGER_SCHEMA)
    ctx.store.merge(df, ledger_path(ctx), MergeSpec(keys=("source_file", "sha256")))
