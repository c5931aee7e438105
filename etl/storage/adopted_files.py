"""A new delta-rs table made of the Parquet files Spark wrote: no second write.

Creating a table through `write_deltalake` reads Spark's staged Parquet back into Arrow and
writes it again; with partitions, delta-rs holds every partition's open file in the driver's
memory (measured: about five times the batch's size). Instead, Spark writes the batch in the
table's own layout (Hive-style partition folders, partition columns out of the files), the files
move into the table's folder, and delta-rs commits them as the table's first version, with
statistics read from each file's footer.

Statistics: the row count and the null count of every column of a plain (not nested) type;
minimum and maximum only for integers, dates and strings, whose Parquet statistics mean exactly
what Delta's do. Timestamps (Delta stores them at millisecond precision), decimals and floating
point have none, so no reader skips a file on a bound that is not exact. Files of empty tasks
are left out.

A local table only, and only file paths of plain characters; otherwise `adopt` returns None and
the caller writes the table the usual way. A crash after the move and before the commit leaves
files no version references: the table does not exist yet, and the next run commits files of
new names beside them.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow.parquet as pq
from deltalake import CommitProperties, Schema
from deltalake.transaction import AddAction, create_table_with_add_actions
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ByteType,
    DataType,
    DateType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructType,
)

from etl.storage.base import CDF_PROPERTY

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_.=/-]+$")
_BOUNDED = (ByteType, ShortType, IntegerType, LongType, DateType, StringType)
_NESTED = ("array", "map", "struct")


def data_files(folder: Path) -> list[Path]:
    """The Parquet files Spark wrote under `folder` (no markers, no checksums)."""
    return sorted(
        p for p in folder.rglob("*.parquet") if p.is_file() and not p.name.startswith((".", "_"))
    )


def partition_values(relative: Path, partition_by: tuple[str, ...]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for part in relative.parts[:-1]:
        name, _, value = part.partition("=")
        values[unquote(name)] = None if value == HIVE_NULL else unquote(value)
    if tuple(values) != partition_by:
        raise ValueError(f"{relative}: partition folders {tuple(values)}, expected {partition_by}")
    return values


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def file_stats(
    path: Path, schema: StructType, partition_by: tuple[str, ...] = ()
) -> tuple[int, str]:
    """The file's row count and its Delta statistics (JSON) over its data columns (partition
    columns are not in the file)."""
    metadata = pq.ParquetFile(path).metadata
    types: dict[str, DataType] = {
        f.name: f.dataType
        for f in schema.fields
        if f.dataType.typeName() not in _NESTED and f.name not in partition_by
    }
    nulls: dict[str, int] = dict.fromkeys(types, 0)
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    unbounded = {n for n, t in types.items() if not isinstance(t, _BOUNDED)}
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            name, stats = column.path_in_schema, column.statistics
            if name not in types:
                continue  # a nested column's leaf
            if stats is None or stats.null_count is None:
                nulls.pop(name, None)  # unknown: no null count, no bounds
                unbounded.add(name)
                continue
            if name in nulls:
                nulls[name] += int(stats.null_count)
            if name in unbounded or stats.null_count == column.num_values:
                continue  # no bounds kept, or only nulls in this row group
            if not stats.has_min_max or (
                isinstance(types[name], StringType) and not isinstance(stats.min, str)
            ):
                unbounded.add(name)
                continue
            low[name] = min(low[name], stats.min) if name in low else stats.min
            high[name] = max(high[name], stats.max) if name in high else stats.max
    bounded = [n for n in types if n in low and n not in unbounded]
    document = {
        "numRecords": int(metadata.num_rows),
        "minValues": {n: _json_value(low[n]) for n in bounded},
        "maxValues": {n: _json_value(high[n]) for n in bounded},
        "nullCount": nulls,
    }
    return int(metadata.num_rows), json.dumps(document)


def adopt(
    staged: Path,
    path: str,
    schema: StructType,
    partition_by: tuple[str, ...],
    properties: CommitProperties,
) -> int | None:
    """Create the table at `path` from the files Spark wrote under `staged` (its layout, its
    partition folders); the number of rows. None, with nothing changed, when the table is not
    local or a file's path has characters that would need encoding in the log."""
    if "://" in path:
        return None
    actions, moves, rows = [], [], 0
    for source in data_files(staged):
        relative = source.relative_to(staged)
        if not _PLAIN_PATH.match(relative.as_posix()):
            return None
        try:
            values = partition_values(relative, partition_by)
        except ValueError:
            return None  # a file outside the partition folders (Spark's empty output)
        count, stats = file_stats(source, schema, partition_by)
        if not count:
            continue  # an empty task's file: nothing to adopt
        rows += count
        info = source.stat()
        moves.append((source, Path(path) / relative))
        actions.append(
            AddAction(
                path=relative.as_posix(),
                size=info.st_size,
                partition_values=values,
                modification_time=int(info.st_mtime * 1000),
                data_change=True,
                stats=stats,
            )
        )
    for source, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)  # a rename on one filesystem
    create_table_with_add_actions(
        path,
        Schema.from_arrow(to_arrow_schema(schema)),
        actions,
        mode="error",
        partition_by=list(partition_by) or None,
        configuration={CDF_PROPERTY: "true"},
        commit_properties=properties,
    )
    return rows
