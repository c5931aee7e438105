"""delta-rs backend: Spark computes, `deltalake` commits.

Spark hands a DataFrame over as Parquet files in a staging folder (exact types: timestamps as
UTC microseconds, decimals as decimals), and delta-rs merges or writes them. Reading goes the
other way: delta-rs lists the data files of a version (or streams a version range's change data
feed into scratch Parquet) and Spark reads them. Neither direction goes through pandas, so
nothing shifts hours or loses precision. Bookkeeping reads (versions, history, small audit
tables) need no Spark at all, so a run with nothing to do never starts a JVM.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import LongType, StringType, StructType, TimestampType

from etl.storage.adopted_files import adopt
from etl.storage.base import (
    CDF_PROPERTY,
    CHANGE_TYPE,
    COMMIT_TIMESTAMP,
    COMMIT_VERSION,
    Commit,
    CommitHook,
    MergeResult,
    MergeSpec,
    TableHistoryEntry,
    TableStoreError,
)

SparkProvider = Callable[[], SparkSession]


def _properties(commit: Commit) -> CommitProperties:
    return CommitProperties(custom_metadata={"userMetadata": commit.user_metadata()})


def _plain(value: object) -> object:
    """Arrow's timezone-aware UTC datetimes as naive UTC, as Spark collects them."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _arrow_rows(rows: Sequence[Sequence[object]], schema: StructType) -> pa.Table:
    arrow_schema = to_arrow_schema(schema)
    columns: list[Sequence[object]] = (
        list(zip(*rows, strict=True)) if rows else [() for _ in schema.fields]
    )
    return pa.Table.from_arrays(
        [pa.array(list(c), type=f.type) for c, f in zip(columns, arrow_schema, strict=True)],
        schema=arrow_schema,
    )


def spark_schema(table: DeltaTable) -> StructType:
    """A table's schema in Spark's types: Delta's log holds it in Spark's own JSON form."""
    return StructType.fromJson(json.loads(table.schema().to_json()))


class DeltaRsTableStore:
    def __init__(self, spark: SparkSession | SparkProvider) -> None:
        self._spark = spark
        self._scratch: Path | None = None
        self._reads = itertools.count()
        self.on_commit: CommitHook | None = None

    @property
    def spark(self) -> SparkSession:
        if not isinstance(self._spark, SparkSession):
            self._spark = self._spark()
        return self._spark

    def _committed(self, path: str) -> int:
        version = self.version(path)
        if self.on_commit is not None:
            self.on_commit(path, version)
        return version

    def exists(self, path: str) -> bool:
        return bool(DeltaTable.is_deltatable(path))

    def _table(self, path: str, version: int | None = None) -> DeltaTable:
        try:
            return DeltaTable(path, version=version)
        except TableNotFoundError as exc:
            raise TableStoreError(f"no Delta table at {path}") from exc

    def version(self, path: str) -> int:
        return int(self._table(path).version())

    def read(self, path: str, version: int | None = None) -> DataFrame:
        table = self._table(path, version)
        schema = spark_schema(table)
        files = table.file_uris()
        if not files:
            return self.spark.createDataFrame([], schema)
        df = self.spark.read.schema(schema).option("basePath", path).parquet(*files)
        # Spark puts the partition columns last; the table's order back where it differs (a
        # select costs three calls into the JVM a column, about a millisecond each).
        names, partitions = schema.fieldNames(), table.metadata().partition_columns
        if not partitions or names[-len(partitions) :] == partitions:
            return df
        return df.select(*names)

    def _scratch_folder(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="etl-scratch-"))
        folder = self._scratch / f"read-{next(self._reads):05d}"
        folder.mkdir()
        return folder

    def read_changes(self, path: str, start: int, end: int) -> DataFrame:
        table = self._table(path)
        schema = (
            spark_schema(table)
            .add(CHANGE_TYPE, StringType())
            .add(COMMIT_VERSION, LongType())
            .add(COMMIT_TIMESTAMP, TimestampType())
        )
        reader = table.load_cdf(starting_version=start, ending_version=end)
        arrow_reader = pa.RecordBatchReader.from_stream(reader)
        target = to_arrow_schema(schema)  # plain types: the feed may use string views
        folder = self._scratch_folder()
        written = 0
        with pq.ParquetWriter(folder / "changes.parquet", target) as writer:
            for batch in arrow_reader:
                if batch.num_rows:
                    table_batch = pa.Table.from_batches([batch]).select(target.names)
                    writer.write_table(table_batch.cast(target))
                    written += batch.num_rows
        if not written:
            return self.spark.createDataFrame([], schema)
        return self.spark.read.schema(schema).parquet(str(folder))

    def read_rows(self, path: str, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        table = self._table(path).to_pyarrow_table(columns=list(columns) if columns else None)
        return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]

    def count(self, path: str) -> int:
        return int(self._table(path).count())

    def _staged(
        self, df: DataFrame, partition_by: tuple[str, ...] = ()
    ) -> tuple[Path, pads.Dataset]:
        """`df` as Parquet under `<folder>/data`, and the Arrow dataset over it. With
        `partition_by`, in Hive partition folders, each value's rows written by one task (one
        file per value), as a new table lays them out."""
        data = Path(tempfile.mkdtemp(prefix="etl-stage-")) / "data"
        if partition_by:
            df.repartition(*partition_by).write.partitionBy(*partition_by).parquet(str(data))
        else:
            df.write.parquet(str(data))
        schema = to_arrow_schema(df.schema)
        layout = (
            pads.partitioning(pa.schema([schema.field(c) for c in partition_by]), flavor="hive")
            if partition_by
            else None
        )
        dataset = pads.dataset(str(data), format="parquet", schema=schema, partitioning=layout)
        return data.parent, dataset

    def _write_new(
        self,
        data: pads.Dataset | pa.Table,
        path: str,
        partition_by: tuple[str, ...],
        commit: Commit,
    ) -> MergeResult:
        """A table that does not exist yet is created holding the batch, in one commit."""
        rows = data.count_rows() if isinstance(data, pads.Dataset) else data.num_rows
        source = data.scanner().to_reader() if isinstance(data, pads.Dataset) else data
        write_deltalake(
            path,
            source,
            mode="error",
            partition_by=list(partition_by) or None,
            configuration={CDF_PROPERTY: "true"},
            commit_properties=_properties(commit),
        )
        return MergeResult(self._committed(path), True, rows, inserted=rows)

    def _merge_source(
        self, source: pads.Dataset | pa.Table, path: str, spec: MergeSpec, commit: Commit
    ) -> MergeResult:
        before = self.version(path)
        reader = source.scanner().to_reader() if isinstance(source, pads.Dataset) else source
        merger = self._table(path).merge(
            source=reader,
            predicate=spec.match_predicate(),
            source_alias="s",
            target_alias="t",
            commit_properties=_properties(commit),
        )
        columns = [n for n in source.schema.names if n != spec.op_column]
        assignments = {c: f"s.{c}" for c in columns}
        if spec.op_column:
            merger = merger.when_matched_delete(predicate=spec.is_delete())
        if spec.update_when != "false":
            merger = merger.when_matched_update(
                updates=assignments, predicate=spec.update_condition()
            )
        merger = merger.when_not_matched_insert(
            updates=assignments, predicate=spec.insert_condition()
        )
        if spec.delete_unmatched_when is not None:
            merger = merger.when_not_matched_by_source_delete(predicate=spec.delete_unmatched_when)
        metrics = merger.execute()
        after = self.version(path)
        committed = after != before
        if committed and self.on_commit is not None:
            self.on_commit(path, after)
        return MergeResult(
            version=after,
            committed=committed,
            source_rows=int(metrics.get("num_source_rows", 0)),
            inserted=int(metrics.get("num_target_rows_inserted", 0)),
            updated=int(metrics.get("num_target_rows_updated", 0)),
            deleted=int(metrics.get("num_target_rows_deleted", 0)),
        )

    def _create(
        self, df: DataFrame, path: str, partition_by: tuple[str, ...], commit: Commit
    ) -> MergeResult:
        """A new table: the files Spark staged in the table's layout, committed by delta-rs
        (etl/storage/adopted_files.py); where they cannot be adopted, delta-rs writes them."""
        folder, staged = self._staged(df, partition_by)
        try:
            rows = adopt(folder / "data", path, df.schema, partition_by, _properties(commit))
            if rows is None:
                return self._write_new(staged, path, partition_by, commit)
            return MergeResult(self._committed(path), True, rows, inserted=rows)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def merge(self, df: DataFrame, path: str, spec: MergeSpec, commit: Commit) -> MergeResult:
        if not self.exists(path):
            if spec.op_column:
                df = df.where(F.col(spec.op_column) != "delete").drop(spec.op_column)
            return self._create(df, path, spec.partition_by, commit)
        folder, staged = self._staged(df)
        try:
            return self._merge_source(staged, path, spec, commit)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def append_rows(
        self, rows: Sequence[Sequence[object]], schema: StructType, path: str, commit: Commit
    ) -> int:
        write_deltalake(
            path,
            _arrow_rows(rows, schema),
            mode="append",
            configuration={CDF_PROPERTY: "true"},
            commit_properties=_properties(commit),
        )
        return self._committed(path)

    def merge_rows(
        self,
        rows: Sequence[Sequence[object]],
        schema: StructType,
        path: str,
        spec: MergeSpec,
        commit: Commit,
    ) -> MergeResult:
        table = _arrow_rows(rows, schema)
        if not self.exists(path):
            return self._write_new(table, path, spec.partition_by, commit)
        return self._merge_source(table, path, spec, commit)

    def mark(self, path: str, commit: Commit) -> int:
        table = self._table(path)
        empty = pa.schema(table.schema().to_arrow()).empty_table()
        write_deltalake(path, empty, mode="append", commit_properties=_properties(commit))
        return self._committed(path)

    def overwrite(
        self, df: DataFrame, path: str, commit: Commit, partition_by: tuple[str, ...] = ()
    ) -> int:
        folder, staged = self._staged(df)
        try:
            write_deltalake(
                path,
                staged.scanner().to_reader(),
                mode="overwrite",
                partition_by=list(partition_by) or None,
                schema_mode="overwrite",
                configuration={CDF_PROPERTY: "true"},
                commit_properties=_properties(commit),
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self._committed(path)

    def history(self, path: str, limit: int | None = None) -> list[TableHistoryEntry]:
        entries = []
        for item in self._table(path).history(limit):
            entries.append(
                TableHistoryEntry(
                    version=int(item.get("version", -1)),
                    operation=str(item.get("operation", "")),
                    timestamp=str(item.get("timestamp", "")),
                    metrics=dict(item.get("operationMetrics") or {}),
                    parameters=dict(item.get("operationParameters") or {}),
                    user_metadata=item.get("userMetadata"),
                )
            )
        return entries

    def restore(self, path: str, version: int, commit: Commit) -> int:
        self._table(path).restore(version, commit_properties=_properties(commit))
        return self._committed(path)

    def optimize(
        self,
        path: str,
        commit: Commit,
        zorder_by: tuple[str, ...] = (),
        target_file_bytes: int | None = None,
    ) -> dict[str, Any]:
        table = self._table(path)
        before = table.version()
        properties = _properties(commit)
        if zorder_by:
            metrics = table.optimize.z_order(
                list(zorder_by), target_size=target_file_bytes, commit_properties=properties
            )
        else:
            metrics = table.optimize.compact(
                target_size=target_file_bytes, commit_properties=properties
            )
        if self.version(path) != before:
            self._committed(path)
        return dict(metrics)

    def size_bytes(self, path: str) -> int:
        actions = self._table(path).get_add_actions(flatten=True)
        sizes = pa.table(actions).column("size_bytes").to_pylist()
        return int(sum(sizes))

    def vacuum(self, path: str, retention_hours: int, commit: Commit) -> int:
        deleted = self._table(path).vacuum(
            retention_hours=retention_hours,
            dry_run=False,
            enforce_retention_duration=True,
            commit_properties=_properties(commit),
        )
        return len(deleted)

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
