"""Every setting of the lakehouse, resolved in one place.

Values come, in order of precedence, from command-line flags, `ETL_*` environment variables
and the defaults below. Glue job arguments arrive as flags through the Glue entry point, so a
job never reads configuration anywhere else.
"""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Backend = Literal["delta-rs", "delta-spark"]
BACKENDS: tuple[Backend, ...] = ("delta-rs", "delta-spark")

DATASETS = ("products", "orders", "order_items")
GOLD_TABLES = ("daily_sales", "product_performance", "department_analytics", "customer_insights")

DEFAULT_SOURCE_DIR = "data"
DEFAULT_LAKEHOUSE_DIR = "lakehouse"
# Delta's own default: VACUUM never removes files a reader of the last 7 days may need.
DEFAULT_VACUUM_RETENTION_HOURS = 168
# Z-ordered tables are rewritten into about this many files per partition, so a point query on
# the Z-order column can skip most files through their min/max statistics; file sizes are kept
# between the bounds (tiny tables are not split, large ones never exceed 128 MiB files).
ZORDER_FILES_PER_PARTITION = 16
ZORDER_MIN_FILE_BYTES = 256 * 1024
ZORDER_MAX_FILE_BYTES = 128 * 1024 * 1024

# Spark settings that matter on a 2-core laptop; Glue sizes its own cluster.
LOCAL_SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "6g",
}


def _new_batch_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Settings:
    """Where the sources and tables are, which Delta backend writes them, and the batch."""

    source_dir: str = DEFAULT_SOURCE_DIR
    lakehouse_dir: str = DEFAULT_LAKEHOUSE_DIR
    backend: Backend = "delta-rs"
    batch_id: str = field(default_factory=_new_batch_id)
    files: tuple[str, ...] = ()
    vacuum_retention_hours: int = DEFAULT_VACUUM_RETENTION_HOURS
    validate: bool = True  # run the Great Expectations suite after each silver and gold write

    def table_path(self, layer: str, name: str) -> str:
        """Location of a table: `<lakehouse>/<layer>/<name>` (part of the public interface)."""
        return f"{self.lakehouse_dir.rstrip('/')}/{layer}/{name}"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every entry point accepts; each has an `ETL_*` environment variable."""
    env = os.environ.get
    parser.add_argument(
        "--source-dir",
        default=env("ETL_SOURCE_DIR", DEFAULT_SOURCE_DIR),
        help="folder (or s3:// prefix) holding the source files [ETL_SOURCE_DIR, default: data]",
    )
    parser.add_argument(
        "--lakehouse-dir",
        default=env("ETL_LAKEHOUSE_DIR", DEFAULT_LAKEHOUSE_DIR),
        help="root of the Delta tables [ETL_LAKEHOUSE_DIR, default: lakehouse]",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=env("ETL_BACKEND", "delta-rs"),
        help="Delta writer: delta-rs (local, offline) or delta-spark (Glue) [ETL_BACKEND]",
    )
    parser.add_argument(
        "--batch-id",
        default=env("ETL_BATCH_ID") or None,
        help="identifier recorded on every row this run writes [ETL_BATCH_ID, default: new id]",
    )
    parser.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        default=env("ETL_VALIDATE", "true").lower() not in ("0", "false", "no"),
        help="skip Great Expectations validation of silver and gold [ETL_VALIDATE=false]",
    )
    parser.add_argument(
        "--files",
        default=env("ETL_FILES", ""),
        help="comma-separated source files to ingest (default: every file under --source-dir)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    files = tuple(f.strip() for f in (args.files or "").split(",") if f.strip())
    return Settings(
        source_dir=args.source_dir,
        lakehouse_dir=args.lakehouse_dir,
        backend=args.backend,
        batch_id=args.batch_id or _new_batch_id(),
        files=files,
        validate=args.validate,
    )
