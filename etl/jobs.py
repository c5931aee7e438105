"""What every job shares: its context, its result, the job list and the command-line runner."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from etl.errors import DataQualityError, EtlError
from etl.settings import Settings, add_common_arguments, settings_from_args
from etl.storage import TableStore, get_table_store

log = logging.getLogger(__name__)

# Every job, in a valid dependency order, with what it reads.
JOBS: dict[str, tuple[str, ...]] = {
    "bronze.products": (),
    "bronze.orders": (),
    "bronze.order_items": (),
    "silver.products": ("bronze.products",),
    "silver.orders": ("bronze.orders",),
    "silver.order_items": ("bronze.order_items", "silver.orders", "silver.products"),
    "gold.daily_sales": ("silver.orders", "silver.order_items"),
    "gold.product_performance": ("silver.products", "silver.order_items"),
    "gold.department_analytics": ("silver.products", "silver.order_items"),
    "gold.customer_insights": ("silver.orders", "silver.order_items", "silver.products"),
}


def module_of(job: str) -> str:
    layer, name = job.split(".")
    return f"etl.{layer}.{name}_etl"


@dataclass(frozen=True)
class JobContext:
    spark: SparkSession
    store: TableStore
    settings: Settings
    run_id: str
    started_at: datetime

    def path(self, layer: str, name: str) -> str:
        return self.settings.table_path(layer, name)


@dataclass
class JobResult:
    """Row accounting of one job: rows_read + retried = inserted + rejected + duplicates."""

    job: str
    table: str
    rows_read: int = 0
    retried: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    rejected: int = 0
    duplicates: int = 0
    released: int = 0
    seconds: float = 0.0
    version: int | None = None
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    warnings_by_reason: dict[str, int] = field(default_factory=dict)
    watermark: datetime | None = None
    skipped_files: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def new_context(settings: Settings, spark: SparkSession | None = None) -> JobContext:
    from etl.spark import get_spark

    spark = spark or get_spark("etl", settings.backend)
    return JobContext(
        spark=spark,
        store=get_table_store(spark, settings.backend),
        settings=settings,
        run_id=uuid.uuid4().hex[:12],
        started_at=datetime.now(UTC),
    )


def run_job(job: str, ctx: JobContext) -> JobResult:
    """Run one job and record it in the audit table."""
    from etl.audit import record_run

    run: Callable[[JobContext], JobResult] = importlib.import_module(module_of(job)).run
    started = time.perf_counter()
    result = run(ctx)
    # The run is recorded (with its watermark) as soon as its table is written, so a failed
    # validation does not make the next run read the same rows again.
    result.seconds = round(time.perf_counter() - started, 2)
    record_run(ctx, result)
    layer, name = job.split(".")
    if ctx.settings.validate and layer in ("silver", "gold"):
        from etl.quality.validate import validate_table

        validate_table(ctx, layer, name)
        result.seconds = round(time.perf_counter() - started, 2)
    log.info(
        "%s: read %d, inserted %d, updated %d, rejected %d, duplicates %d in %.1fs",
        job,
        result.rows_read + result.retried,
        result.inserted,
        result.updated,
        result.rejected,
        result.duplicates,
        result.seconds,
    )
    return result


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def exit_code(exc: EtlError) -> int:
    """2 for unusable input or configuration, 3 for a failed error-severity expectation."""
    return 3 if isinstance(exc, DataQualityError) else 2


def job_main(job: str, description: str, argv: list[str] | None = None) -> int:
    """The command line of a single job module."""
    parser = argparse.ArgumentParser(prog=f"python -m {module_of(job)}", description=description)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging()
    try:
        ctx = new_context(settings_from_args(args))
        result = run_job(job, ctx)
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
    from etl.summary import format_summary

    print(format_summary([result]))
    return 0
