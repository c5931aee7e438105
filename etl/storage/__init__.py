"""Delta table storage behind one interface, with a delta-rs and a delta-spark backend.

The delta-rs backend is imported only when asked for: Glue installs neither `deltalake` nor
anything else only a local run needs, so importing this package must not need it.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import SparkSession

from etl.settings import Backend
from etl.storage.base import (
    CHANGE_COLUMNS,
    CHANGE_TYPE,
    COMMIT_VERSION,
    Commit,
    MergeResult,
    MergeSpec,
    TableHistoryEntry,
    TableStore,
    TableStoreError,
    changed_predicate,
    in_predicate,
)
from etl.storage.delta_spark_store import DeltaSparkTableStore

__all__ = [
    "CHANGE_COLUMNS",
    "CHANGE_TYPE",
    "COMMIT_VERSION",
    "Commit",
    "DeltaSparkTableStore",
    "MergeResult",
    "MergeSpec",
    "TableHistoryEntry",
    "TableStore",
    "TableStoreError",
    "changed_predicate",
    "get_table_store",
    "in_predicate",
]


def get_table_store(
    spark: SparkSession | Callable[[], SparkSession], backend: Backend
) -> TableStore:
    """The store of a backend; `spark` may be a session or a function that makes one when the
    store first needs Spark (delta-rs reads bookkeeping without it)."""
    if backend == "delta-spark":
        return DeltaSparkTableStore(spark)
    from etl.storage.delta_rs_store import DeltaRsTableStore

    return DeltaRsTableStore(spark)
