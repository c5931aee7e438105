"""delta-rs backend: Spark computes, `deltalake` commits.

Spark hands a DataFrame over as Parquet files in a staging folder (exact types: timestamps as
UTC microseconds, decimals as decimals), and delta-rs merges or writes them. Reading goes the
other way: delta-rs lists the data files of a version and Spark reads them as Parquet. Neither
direction goes through pandas, so nothing shifts hours or loses precision.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from etl.storage.base import MergeResult, MergeSpec, TableHistoryEntry, TableStoreError


class DeltaRsTableStore:
    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def exists(self, path: str) -> bool:
        return bool(DeltaTable.is_deltatable(path))

    def _table(self, path: str, version: int | None = None) -> DeltaTable:
        try:
            return DeltaTable(path, version=version)
        except TableNotFoundError as exc:
            raise TableStoreError(f"no Delta table at {path}") from exc

    def read(self, path: str, version: int | None = None) -> DataFrame:
        table = self._table(path, version)
        schema = StructType.fromJson(json.loads(table.schema().to_json()))
        files = table.file_uris()
        if not files:
            return self.spark.createDataFrame([], schema)
        df = self.spark.read.schema(schema).option("basePath", path).parquet(*files)
        return df.select(*schema.fieldNames())

    def _staged(self, df: DataFrame) -> tuple[str, pa.RecordBatchReader]:
        folder = tempfile.mkdtemp(prefix="etl-stage-")
        df.write.mode("overwrite").parquet(folder + "/data")
        schema = to_arrow_schema(df.schema)
        dataset = pads.dataset(folder + "/data", format="parquet", schema=schema)
        return folder, dataset.scanner().to_reader()

    def overwrite(self, df: DataFrame, path: str, partition_by: tuple[str, ...] = ()) -> int:
        folder, reader = self._staged(df)
        try:
            write_deltalake(
                path,
                reader,
                mode="overwrite",
                partition_by=list(partition_by) or None,
                schema_mode="overwrite",
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self.version(path)

    def merge(self, df: DataFrame, path: str, spec: MergeSpec) -> MergeResult:
        if not self.exists(path):
            DeltaTable.create(
                path,
                schema=to_arrow_schema(df.schema),
                partition_by=list(spec.partition_by) or None,
            )
        folder, reader = self._staged(df)
        try:
            merger = self._table(path).merge(
                source=reader,
                predicate=spec.match_predicate(),
                source_alias="s",
                target_alias="t",
            )
            if spec.update_when != "false":
                merger = merger.when_matched_update_all(predicate=spec.update_when)
            merger = merger.when_not_matched_insert_all()
            if spec.delete_unmatched_when is not None:
                merger = merger.when_not_matched_by_source_delete(
                    predicate=spec.delete_unmatched_when
                )
            metrics = merger.execute()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return MergeResult(
            version=self.version(path),
            source_rows=int(metrics.get("num_source_rows", 0)),
            inserted=int(metrics.get("num_target_rows_inserted", 0)),
            updated=int(metrics.get("num_target_rows_updated", 0)),
            deleted=int(metrics.get("num_target_rows_deleted", 0)),
        )

    def delete_matching(self, keys: DataFrame, path: str, key_columns: tuple[str, ...]) -> int:
        if not self.exists(path):
            return 0
        folder, reader = self._staged(keys.select(*key_columns))
        try:
            on = " AND ".join(f"t.{k} = s.{k}" for k in key_columns)
            metrics = (
                self._table(path)
                .merge(source=reader, predicate=on, source_alias="s", target_alias="t")
                .when_matched_delete()
                .execute()
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return int(metrics.get("num_target_rows_deleted", 0))

    def version(self, path: str) -> int:
        return int(self._table(path).version())

    def history(self, path: str) -> list[TableHistoryEntry]:
        entries = []
        for item in self._table(path).history():
            metrics = item.get("operationMetrics") or {}
            entries.append(
                TableHistoryEntry(
                    version=int(item.get("version", -1)),
                    operation=str(item.get("operation", "")),
                    timestamp=str(item.get("timestamp", "")),
                    metrics=dict(metrics),
                )
            )
        return entries

    def optimize(
        self, path: str, zorder_by: tuple[str, ...] = (), target_file_bytes: int | None = None
    ) -> dict[str, Any]:
        table = self._table(path)
        if zorder_by:
            return dict(table.optimize.z_order(list(zorder_by), target_size=target_file_bytes))
        return dict(table.optimize.compact(target_size=target_file_bytes))

    def size_bytes(self, path: str) -> int:
        actions = self._table(path).get_add_actions(flatten=True)
        sizes = actions.column("size_bytes").to_pylist()
        return int(sum(sizes))

    def vacuum(self, path: str, retention_hours: int) -> list[str]:
        return list(
            self._table(path).vacuum(
                retention_hours=retention_hours, dry_run=False, enforce_retention_duration=True
            )
        )
