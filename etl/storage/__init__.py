"""Delta table storage behind one interface, with a delta-rs and a delta-spark backend."""

from __future__ import annotations

from pyspark.sql import SparkSession

from etl.settings import Backend
from etl.storage.base import (
    MergeResult,
    MergeSpec,
    TableHistoryEntry,
    TableStore,
    TableStoreError,
    changed_predicate,
    in_predicate,
)

__all__ = [
    "MergeResult",
    "MergeSpec",
    "TableHistoryEntry",
    "TableStore",
    "TableStoreError",
    "changed_predicate",
    "get_table_store",
    "in_predicate",
]


def get_table_store(spark: SparkSession, backend: Backend) -> TableStore:
    if backend == "delta-spark":
        from etl.storage.delta_spark_store import DeltaSparkTableStore

        return DeltaSparkTableStore(spark)
    from etl.storage.delta_rs_store import DeltaRsTableStore

    return DeltaRsTableStore(spark)
