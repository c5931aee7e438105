"""delta-spark backend: `DeltaTable` merge and `OPTIMIZE ... ZORDER BY`, as run on Glue.

A commit's `userMetadata` is set through the session setting
`spark.databricks.delta.commitInfo.userMetadata` for the one statement that commits, then
restored: it is the only way to label a MERGE, OPTIMIZE or RESTORE commit in delta-spark.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from etl.storage import delta_log
from etl.storage.base import (
    CDF_PROPERTY,
    Commit,
    CommitHook,
    MergeResult,
    MergeSpec,
    TableHistoryEntry,
    TableStoreError,
)

USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
MAX_FILE_SIZE = "spark.databricks.delta.optimize.maxFileSize"
ARROW = "spark.sql.execution.arrow.pyspark.enabled"


class DeltaSparkTableStore:
    def __init__(self, spark: SparkSession | Callable[[], SparkSession]) -> None:
        self._spark = spark
        self.on_commit: CommitHook | None = None

    @property
    def spark(self) -> SparkSession:
        if not isinstance(self._spark, SparkSession):
            self._spark = self._spark()
        return self._spark

    @property
    def _delta(self) -> Any:
        from delta.tables import DeltaTable  # the Python half of Delta's jars; only here

        return DeltaTable

    @contextmanager
    def _session_setting(self, key: str, value: str | None) -> Iterator[None]:
        conf = self.spark.conf
        previous = conf.get(key, None)
        if value is not None:
            conf.set(key, value)
        try:
            yield
        finally:
            if value is not None:
                if previous is None:
                    conf.unset(key)
                else:
                    conf.set(key, previous)

    def _labelled(self, commit: Commit) -> Any:
        return self._session_setting(USER_METADATA, commit.user_metadata())

    def _committed(self, path: str, before: int | None = None) -> int:
        version = self.version(path)
        if version != before and self.on_commit is not None:
            self.on_commit(path, version)
        return version

    def exists(self, path: str) -> bool:
        """A commit in the table's log, listed directly: `DeltaTable.isDeltaTable` would load the
        table's snapshot in the JVM for every check."""
        return delta_log.latest_version(path) is not None

    def _table(self, path: str) -> Any:
        if not self.exists(path):
            raise TableStoreError(f"no Delta table at {path}")
        return self._delta.forPath(self.spark, path)

    def version(self, path: str) -> int:
        version = delta_log.latest_version(path)
        if version is None:
            raise TableStoreError(f"no Delta table at {path}")
        return version

    def read(self, path: str, version: int | None = None) -> DataFrame:
        if not self.exists(path):
            raise TableStoreError(f"no Delta table at {path}")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(path)

    def read_changes(self, path: str, start: int, end: int) -> DataFrame:
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", start)
            .option("endingVersion", end)
            .load(path)
        )

    def read_rows(self, path: str, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        df = self.read(path)
        if columns:
            df = df.select(*columns)
        return [row.asDict() for row in df.collect()]

    def count(self, path: str) -> int:
        """From the log's file statistics when they say exactly (no Spark job); else counted."""
        rows = delta_log.row_count(path)
        return rows if rows is not None else int(self.read(path).count())

    def _write_new(
        self, df: DataFrame, path: str, partition_by: tuple[str, ...], commit: Commit
    ) -> int:
        writer = (
            df.write.format("delta")
            .mode("errorifexists")
            .option(CDF_PROPERTY, "true")
            .option("userMetadata", commit.user_metadata())
        )
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)
        return self._committed(path)

    def merge(self, df: DataFrame, path: str, spec: MergeSpec, commit: Commit) -> MergeResult:
        if not self.exists(path):
            if spec.op_column:
                df = df.where(F.col(spec.op_column) != "delete").drop(spec.op_column)
            version = self._write_new(df, path, spec.partition_by, commit)
            rows = self.count(path)  # from the new log's statistics: no second pass over df
            return MergeResult(version, True, rows, inserted=rows)
        before = self.version(path)
        columns = [c for c in df.columns if c != spec.op_column]
        assignments = {c: f"s.{c}" for c in columns}
        merger = self._table(path).alias("t").merge(df.alias("s"), spec.match_predicate())
        if spec.op_column:
            merger = merger.whenMatchedDelete(condition=spec.is_delete())
        if spec.update_when != "false":
            merger = merger.whenMatchedUpdate(condition=spec.update_condition(), set=assignments)
        merger = merger.whenNotMatchedInsert(condition=spec.insert_condition(), values=assignments)
        if spec.delete_unmatched_when is not None:
            merger = merger.whenNotMatchedBySourceDelete(condition=spec.delete_unmatched_when)
        with self._labelled(commit):
            merger.execute()
        after = self._committed(path, before)
        if after == before:
            return MergeResult(after, committed=False)
        metrics = self._last_metrics(path)
        return MergeResult(
            version=after,
            committed=True,
            source_rows=int(metrics.get("numSourceRows", 0)),
            inserted=int(metrics.get("numTargetRowsInserted", 0)),
            updated=int(metrics.get("numTargetRowsUpdated", 0)),
            deleted=int(metrics.get("numTargetRowsDeleted", 0)),
        )

    def _local_frame(self, rows: Sequence[Sequence[object]], schema: StructType) -> DataFrame:
        """A few Python rows as a DataFrame. Through Arrow (a pandas frame of Python objects)
        Spark plans a local table scan, which writes in about half the time of a Python list
        (an RDD of pickled rows); Arrow would turn a NaN into null, so rows holding a NaN, and
        no rows at all, take the list path."""
        data = [tuple(r) for r in rows]
        if not data or any(isinstance(v, float) and math.isnan(v) for r in data for v in r):
            return self.spark.createDataFrame(data, schema)
        import pandas as pd  # the jobs' dependency; imported where a few rows are written

        columns = {
            f.name: pd.Series([r[i] for r in data], dtype=object)
            for i, f in enumerate(schema.fields)
        }
        with self._session_setting(ARROW, "true"):
            return self.spark.createDataFrame(pd.DataFrame(columns), schema)

    def _append(self, frame: DataFrame, path: str, commit: Commit) -> int:
        before = self.version(path)
        frame.write.format("delta").mode("append").option(
            "userMetadata", commit.user_metadata()
        ).save(path)
        return self._committed(path, before)

    def append_rows(
        self, rows: Sequence[Sequence[object]], schema: StructType, path: str, commit: Commit
    ) -> int:
        frame = self._local_frame(rows, schema)
        if not self.exists(path):
            return self._write_new(frame, path, (), commit)
        return self._append(frame, path, commit)

    def merge_rows(
        self,
        rows: Sequence[Sequence[object]],
        schema: StructType,
        path: str,
        spec: MergeSpec,
        commit: Commit,
    ) -> MergeResult:
        """As `merge`; rows that no target row matches are appended, which commits the same
        rows as the MERGE for a fraction of its Spark jobs (one small query finds out)."""
        frame = self._local_frame(rows, schema)
        if rows and self.exists(path) and self._only_inserts(frame, rows, schema, path, spec):
            version = self._append(frame, path, commit)
            return MergeResult(version, True, source_rows=len(rows), inserted=len(rows))
        return self.merge(frame, path, spec, commit)

    def _only_inserts(
        self,
        source: DataFrame,
        rows: Sequence[Sequence[object]],
        schema: StructType,
        path: str,
        spec: MergeSpec,
    ) -> bool:
        """True when merging `source` would insert every row and change nothing else: the spec
        neither deletes nor filters inserts, and no target row matches a source row. The log's
        file statistics answer first (no Spark job); a query, when they cannot rule a match out."""
        if spec.op_column is not None or spec.delete_unmatched_when is not None:
            return False
        names = schema.fieldNames()
        keyed = [dict(zip(names, row, strict=True)) for row in rows]
        if not delta_log.may_hold_keys(path, spec.keys, keyed):
            return True
        target = self.read(path).alias("t")
        matched = target.join(source.alias("s"), F.expr(spec.match_predicate()), "left_semi")
        return matched.limit(1).count() == 0

    def mark(self, path: str, commit: Commit) -> int:
        before = self.version(path)
        with self._labelled(commit):
            self.spark.sql(
                f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{CDF_PROPERTY}'='true')"
            )
        return self._committed(path, before)

    def overwrite(
        self, df: DataFrame, path: str, commit: Commit, partition_by: tuple[str, ...] = ()
    ) -> int:
        before = self.version(path) if self.exists(path) else None
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option(CDF_PROPERTY, "true")
            .option("userMetadata", commit.user_metadata())
        )
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)
        return self._committed(path, before)

    def _last_metrics(self, path: str) -> dict[str, Any]:
        return dict(delta_log.commit_info(path, self.version(path)).get("operationMetrics") or {})

    def history(self, path: str, limit: int | None = None) -> list[TableHistoryEntry]:
        """Read from the log's newest commit files: no Spark job (DeltaTable.history starts
        one per call)."""
        if not self.exists(path):
            raise TableStoreError(f"no Delta table at {path}")
        return [
            TableHistoryEntry(
                version=version,
                operation=str(info.get("operation", "")),
                timestamp=str(info.get("timestamp", "")),
                metrics=dict(info.get("operationMetrics") or {}),
                parameters=dict(info.get("operationParameters") or {}),
                user_metadata=info.get("userMetadata"),
            )
            for version, info in delta_log.newest_commits(path, limit)
        ]

    def restore(self, path: str, version: int, commit: Commit) -> int:
        before = self.version(path)
        with self._labelled(commit):
            self._table(path).restoreToVersion(version)
        return self._committed(path, before)

    def optimize(
        self,
        path: str,
        commit: Commit,
        zorder_by: tuple[str, ...] = (),
        target_file_bytes: int | None = None,
    ) -> dict[str, Any]:
        before = self.version(path)
        size = str(target_file_bytes) if target_file_bytes else None
        with self._session_setting(MAX_FILE_SIZE, size), self._labelled(commit):
            builder = self._table(path).optimize()
            done = builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()
            metrics = done.collect()[0]["metrics"]
        self._committed(path, before)
        return dict(metrics.asDict(recursive=True))  # numFilesAdded, numFilesRemoved, ...

    def size_bytes(self, path: str) -> int:
        detail = self.spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]
        return int(detail["sizeInBytes"])

    def vacuum(self, path: str, retention_hours: int, commit: Commit) -> int:
        """Delta's VACUUM returns no list of what it deleted, and records a count only where it
        logs VACUUM (not on a laptop, LOCAL_SPARK_CONF): the table's files are listed before
        and after instead (one listing of the folder each, local or S3)."""
        before, files = self.version(path), delta_log.table_files(path)
        with self._labelled(commit):
            self._table(path).vacuum(float(retention_hours))
        self._committed(path, before)
        return len(files - delta_log.table_files(path))

    def close(self) -> None:
        return None
