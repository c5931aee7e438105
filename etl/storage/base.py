"""The table-store interface: every Delta read and write in the lakehouse goes through it.

Two backends implement it: delta-rs (`deltalake`, local default, no JVM jars) and delta-spark
(`DeltaTable`, used on Glue). Predicates are SQL strings that both engines accept, with the
target aliased `t` and the source aliased `s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pyspark.sql import DataFrame


class TableStoreError(RuntimeError):
    """A Delta table could not be read or written."""


@dataclass(frozen=True)
class MergeSpec:
    """How a batch is merged into a table.

    keys: business key; the source must hold at most one row per key.
    update_when: extra condition for replacing a matched row (None: always; "false": never,
        which makes the merge insert-only).
    delete_unmatched_when: delete target rows that have no source row and satisfy this
        condition (None: keep them).
    target_filter: predicate on `t` that restricts the rows the merge may touch, so Delta can
        prune partitions and files.
    """

    keys: tuple[str, ...]
    update_when: str | None = None
    delete_unmatched_when: str | None = None
    target_filter: str | None = None
    partition_by: tuple[str, ...] = ()

    def match_predicate(self) -> str:
        on = " AND ".join(f"t.{k} = s.{k}" for k in self.keys)
        return f"({self.target_filter}) AND {on}" if self.target_filter else on


@dataclass(frozen=True)
class MergeResult:
    version: int
    source_rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class TableHistoryEntry:
    version: int
    operation: str
    timestamp: str
    metrics: dict[str, Any] = field(default_factory=dict)


def in_predicate(column: str, values: list[object]) -> str:
    """`t.<column> IN ('v1', 'v2')`: a merge target filter that lets Delta prune partitions."""
    quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
    return f"t.{column} IN ({quoted})"


def changed_predicate(columns: list[str]) -> str:
    """True when any of `columns` differs between source and target (null-safe)."""
    return " OR ".join(f"(t.{c} IS DISTINCT FROM s.{c})" for c in columns) or "false"


class TableStore(Protocol):
    """What the jobs need from Delta Lake, and nothing more."""

    def exists(self, path: str) -> bool: ...

    def read(self, path: str, version: int | None = None) -> DataFrame: ...

    def overwrite(self, df: DataFrame, path: str, partition_by: tuple[str, ...] = ()) -> int: ...

    def merge(self, df: DataFrame, path: str, spec: MergeSpec) -> MergeResult: ...

    def delete_matching(self, keys: DataFrame, path: str, key_columns: tuple[str, ...]) -> int: ...

    def version(self, path: str) -> int: ...

    def history(self, path: str) -> list[TableHistoryEntry]: ...

    def optimize(
        self, path: str, zorder_by: tuple[str, ...] = (), target_file_bytes: int | None = None
    ) -> dict[str, Any]: ...

    def size_bytes(self, path: str) -> int: ...

    def vacuum(self, path: str, retention_hours: int) -> list[str]: ...
