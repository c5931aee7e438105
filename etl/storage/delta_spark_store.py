"""delta-spark backend: `DeltaTable` merge and `OPTIMIZE ... ZORDER BY`, as run on Glue."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, SparkSession

from etl.storage.base import MergeResult, MergeSpec, TableHistoryEntry, TableStoreError


class DeltaSparkTableStore:
    def __init__(self, spark: SparkSession) -> None:
        from delta.tables import DeltaTable

        self.spark = spark
        self._delta = DeltaTable

    def exists(self, path: str) -> bool:
        return bool(self._delta.isDeltaTable(self.spark, path))

    def read(self, path: str, version: int | None = None) -> DataFrame:
        if not self.exists(path):
            raise TableStoreError(f"no Delta table at {path}")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(path)

    def overwrite(self, df: DataFrame, path: str, partition_by: tuple[str, ...] = ()) -> int:
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)
        return self.version(path)

    def merge(self, df: DataFrame, path: str, spec: MergeSpec) -> MergeResult:
        if not self.exists(path):
            writer = df.limit(0).write.format("delta").mode("overwrite")
            if spec.partition_by:
                writer = writer.partitionBy(*spec.partition_by)
            writer.save(path)
        merger = (
            self._delta.forPath(self.spark, path)
            .alias("t")
            .merge(df.alias("s"), spec.match_predicate())
        )
        if spec.update_when != "false":
            merger = merger.whenMatchedUpdateAll(condition=spec.update_when)
        merger = merger.whenNotMatchedInsertAll()
        if spec.delete_unmatched_when is not None:
            merger = merger.whenNotMatchedBySourceDelete(condition=spec.delete_unmatched_when)
        merger.execute()
        metrics = self._last_metrics(path)
        return MergeResult(
            version=self.version(path),
            source_rows=int(metrics.get("numSourceRows", 0)),
            inserted=int(metrics.get("numTargetRowsInserted", 0)),
            updated=int(metrics.get("numTargetRowsUpdated", 0)),
            deleted=int(metrics.get("numTargetRowsDeleted", 0)),
        )

    def delete_matching(self, keys: DataFrame, path: str, key_columns: tuple[str, ...]) -> int:
        if not self.exists(path):
            return 0
        on = " AND ".join(f"t.{k} = s.{k}" for k in key_columns)
        (
            self._delta.forPath(self.spark, path)
            .alias("t")
            .merge(keys.select(*key_columns).alias("s"), on)
            .whenMatchedDelete()
            .execute()
        )
        return int(self._last_metrics(path).get("numTargetRowsDeleted", 0))

    def _last_metrics(self, path: str) -> dict[str, Any]:
        row = self._delta.forPath(self.spark, path).history(1).collect()[0]
        return dict(row["operationMetrics"] or {})

    def version(self, path: str) -> int:
        return int(self._delta.forPath(self.spark, path).history(1).collect()[0]["version"])

    def history(self, path: str) -> list[TableHistoryEntry]:
        rows = self._delta.forPath(self.spark, path).history().collect()
        return [
            TableHistoryEntry(
                version=int(r["version"]),
                operation=str(r["operation"]),
                timestamp=str(r["timestamp"]),
                metrics=dict(r["operationMetrics"] or {}),
            )
            for r in rows
        ]

    def optimize(
        self, path: str, zorder_by: tuple[str, ...] = (), target_file_bytes: int | None = None
    ) -> dict[str, Any]:
        key = "spark.databricks.delta.optimize.maxFileSize"
        previous = self.spark.conf.get(key, None)
        if target_file_bytes:
            self.spark.conf.set(key, str(target_file_bytes))
        try:
            builder = self._delta.forPath(self.spark, path).optimize()
            done = builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()
            return {"metrics": str(done.collect()[0]["metrics"])}
        finally:
            if target_file_bytes:
                if previous is None:
                    self.spark.conf.unset(key)
                else:
                    self.spark.conf.set(key, previous)

    def size_bytes(self, path: str) -> int:
        detail = self.spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]
        return int(detail["sizeInBytes"])

    def vacuum(self, path: str, retention_hours: int) -> list[str]:
        self._delta.forPath(self.spark, path).vacuum(float(retention_hours))
        return []
