"""Shared fixtures: one session-scoped Spark on local[2], real Delta tables in temp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.jobs import JobContext, new_context
from etl.settings import Settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
# The real April 2025 files: the sibling ../shared/reference-data/apr_2025 of the repository,
# or the folder that ETL_REFERENCE_DATA names.
REFERENCE_DATA = Path(
    os.environ.get("ETL_REFERENCE_DATA") or REPO.parent / "shared" / "reference-data" / "apr_2025"
).resolve()
REFERENCE_DATA_MISSING = (
    f"reference data not found at {REFERENCE_DATA}"
    + (" (from ETL_REFERENCE_DATA)" if os.environ.get("ETL_REFERENCE_DATA") else "")
    + ": set ETL_REFERENCE_DATA to the folder holding products.csv, orders_apr_2025.xlsx"
    " and order_items_apr_2025.xlsx"
)
needs_reference_data = pytest.mark.skipif(
    not REFERENCE_DATA.is_dir(), reason=REFERENCE_DATA_MISSING
)


def delta_spark_available() -> bool:
    """Delta's Spark jars come from Maven; they are opted into with ETL_DELTA_SPARK_TESTS=1."""
    return os.environ.get("ETL_DELTA_SPARK_TESTS") == "1"


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    from etl.spark import get_spark

    session = get_spark("etl-tests", "delta-spark" if delta_spark_available() else "delta-rs")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


@pytest.fixture
def lakehouse(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"


@pytest.fixture
def make_context(spark: SparkSession, lakehouse: Path):  # type: ignore[no-untyped-def]
    """A job context over a temp lakehouse; each call is a new run (new batch and run id)."""

    def _make(source_dir: Path, **overrides: object) -> JobContext:
        settings = Settings(
            source_dir=str(source_dir),
            lakehouse_dir=str(lakehouse),
            **overrides,  # type: ignore[arg-type]
        )
        return new_context(settings, spark)

    return _make


SAMPLE_DATA = REPO / "data"


@pytest.fixture(scope="session")
def sample_lakehouse(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> JobContext:
    """A lakehouse built once per session by the whole pipeline from the sample files in data/,
    validated by Great Expectations after every silver and gold write."""
    from etl.pipeline import run_pipeline, select_jobs

    settings = Settings(
        source_dir=str(SAMPLE_DATA), lakehouse_dir=str(tmp_path_factory.mktemp("sample") / "lh")
    )
    ctx = new_context(settings, spark)
    run_pipeline(ctx, select_jobs())
    return ctx
