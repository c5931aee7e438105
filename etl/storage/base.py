"""The table-store interface: every Delta read and write in the lakehouse goes through it.

Two backends implement it: delta-rs (`deltalake`, local default, no JVM jars) and delta-spark
(`DeltaTable`, used on Glue). Predicates are SQL strings that both engines accept, with the
target aliased `t` and the source aliased `s`.

Every commit the jobs make carries a `Commit`: the job, the run and the job's bookkeeping
(which input versions it consumed, its row counts), stored as the commit's `userMetadata`, so
the bookkeeping lands atomically with the data (see etl/bookkeeping.py). Tables are created with
Delta's change data feed enabled, so a consumer can read exactly the rows a range of versions
changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

CDF_PROPERTY = "delta.enableChangeDataFeed"
# Columns the change data feed adds to a table's rows.
CHANGE_TYPE = "_change_type"
COMMIT_VERSION = "_commit_version"
COMMIT_TIMESTAMP = "_commit_timestamp"
CHANGE_COLUMNS = (CHANGE_TYPE, COMMIT_VERSION, COMMIT_TIMESTAMP)


class TableStoreError(RuntimeError):
    """A Delta table could not be read or written."""


@dataclass(frozen=True)
class Commit:
    """What a commit says about itself: the job and run that made it, and their bookkeeping."""

    job: str
    run_id: str
    info: Mapping[str, Any] = field(default_factory=dict)

    def user_metadata(self) -> str:
        return json.dumps(
            {"etl": {"job": self.job, "run_id": self.run_id, **self.info}},
            sort_keys=True,
            default=str,
        )

    def as_kind(self, kind: str) -> Commit:
        """The same label for another kind of commit."""
        return Commit(self.job, self.run_id, {**self.info, "kind": kind})

    @staticmethod
    def parse(user_metadata: str | None) -> Commit | None:
        """The Commit in a commit's userMetadata; None for commits the jobs did not make."""
        if not user_metadata:
            return None
        try:
            body = json.loads(user_metadata).get("etl")
        except (ValueError, AttributeError):
            return None
        if not isinstance(body, dict) or "job" not in body:
            return None
        info = {k: v for k, v in body.items() if k not in ("job", "run_id")}
        return Commit(job=str(body["job"]), run_id=str(body.get("run_id", "")), info=info)


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
    op_column: a source column that is not written; source rows where it is 'delete' delete
        their matched target row and are never inserted (tombstones).
    """

    keys: tuple[str, ...]
    update_when: str | None = None
    delete_unmatched_when: str | None = None
    target_filter: str | None = None
    partition_by: tuple[str, ...] = ()
    op_column: str | None = None

    def match_predicate(self) -> str:
        on = " AND ".join(f"t.{k} = s.{k}" for k in self.keys)
        return f"({self.target_filter}) AND {on}" if self.target_filter else on

    def is_delete(self) -> str:
        return f"s.{self.op_column} = 'delete'"

    def is_upsert(self) -> str:
        return f"s.{self.op_column} <> 'delete'"

    def update_condition(self) -> str | None:
        if self.op_column is None:
            return self.update_when
        when = self.update_when or "true"
        return f"({self.is_upsert()}) AND ({when})"

    def insert_condition(self) -> str | None:
        return self.is_upsert() if self.op_column else None


@dataclass(frozen=True)
class MergeResult:
    version: int
    committed: bool = True  # False when the merge changed nothing and made no commit
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
    parameters: dict[str, Any] = field(default_factory=dict)
    user_metadata: str | None = None

    @property
    def commit(self) -> Commit | None:
        return Commit.parse(self.user_metadata)


def in_predicate(column: str, values: Sequence[object]) -> str:
    """`t.<column> IN ('v1', 'v2')`: a merge target filter that lets Delta prune partitions."""
    quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
    return f"t.{column} IN ({quoted})"


def changed_predicate(columns: Sequence[str]) -> str:
    """True when any of `columns` differs between source and target (null-safe)."""
    return " OR ".join(f"(t.{c} IS DISTINCT FROM s.{c})" for c in columns) or "false"


CommitHook = Callable[[str, int], None]


class TableStore(Protocol):
    """What the jobs need from Delta Lake, and nothing more.

    `on_commit(path, version)` is called after every commit a store makes (fault injection
    and commit tracing hook into it).
    """

    on_commit: CommitHook | None

    def exists(self, path: str) -> bool: ...

    def version(self, path: str) -> int: ...

    def read(self, path: str, version: int | None = None) -> DataFrame: ...

    def read_changes(self, path: str, start: int, end: int) -> DataFrame:
        """Rows changed by versions start..end (both included), with `_change_type`
        (insert, update_preimage, update_postimage, delete) and `_commit_version`."""
        ...

    def read_rows(self, path: str, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """A small table's rows as dictionaries (bookkeeping; no Spark job where avoidable)."""
        ...

    def count(self, path: str) -> int: ...

    def merge(self, df: DataFrame, path: str, spec: MergeSpec, commit: Commit) -> MergeResult: ...

    def merge_rows(
        self,
        rows: Sequence[Sequence[object]],
        schema: StructType,
        path: str,
        spec: MergeSpec,
        commit: Commit,
    ) -> MergeResult:
        """Merge a few rows built in Python (audit records) without a Spark job."""
        ...

    def append_rows(
        self, rows: Sequence[Sequence[object]], schema: StructType, path: str, commit: Commit
    ) -> int:
        """Append a few rows built in Python (audit records the caller knows are new)."""
        ...

    def mark(self, path: str, commit: Commit) -> int:
        """A commit that changes no data and records `commit` (bookkeeping only)."""
        ...

    def overwrite(
        self, df: DataFrame, path: str, commit: Commit, partition_by: tuple[str, ...] = ()
    ) -> int: ...

    def history(self, path: str, limit: int | None = None) -> list[TableHistoryEntry]:
        """Newest first."""
        ...

    def restore(self, path: str, version: int, commit: Commit) -> int: ...

    def optimize(
        self,
        path: str,
        commit: Commit,
        zorder_by: tuple[str, ...] = (),
        target_file_bytes: int | None = None,
    ) -> dict[str, Any]: ...

    def size_bytes(self, path: str) -> int: ...

    def vacuum(self, path: str, retention_hours: int, commit: Commit) -> int:
        """Delete the files the table no longer references that are older than
        `retention_hours`; the number of files deleted."""
        ...

    def close(self) -> None:
        """Release scratch space the store used for reads."""
        ...
