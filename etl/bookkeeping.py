"""A job's bookkeeping lives in the Delta log of the table it publishes.

Every commit a job makes is labelled with a `Commit` (its `userMetadata`). The commit that
publishes a job's output also carries the job's **state**: for each input table, the last
version it consumed (`sources`), version ranges it must never read (`skip`, left by a restore),
and whatever else the job needs next time (running totals, a pending quarantine release). The
state lands in the same commit as the data, so a crash can never leave one without the other,
and nothing depends on a clock: a job reads exactly the input versions after the ones it
consumed.

Commits that change no data but must move the state (a batch whose rows were all duplicates)
are bookkeeping-only commits (`TableStore.mark`). Maintenance and restore commits carry the
state forward, so it is always found near the top of the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from etl.storage import Commit, TableHistoryEntry, TableStore

# Kinds of labelled commits.
DATA = "data"  # publishes a job's output and its state
MARK = "mark"  # moves the state of a job whose batch changed no rows
RESTORE = "restore"  # etl.restore: the table is back at an earlier version, state rebased
MAINTENANCE = "maintenance"  # OPTIMIZE / VACUUM: state carried forward
STATE_KINDS = (DATA, MARK, RESTORE, MAINTENANCE)

_PAGES = (30, 1000, None)


@dataclass(frozen=True)
class JobState:
    """What a job had consumed when it last published (or what a restore set back)."""

    version: int  # the table version whose commit holds this state
    run_id: str
    sources: dict[str, int] = field(default_factory=dict)
    skip: dict[str, list[list[int]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_info(self) -> dict[str, Any]:
        return {"sources": self.sources, "skip": self.skip, **self.extra}

    def consumed(self, source: str) -> int | None:
        return self.sources.get(source)


def restored_version(entry: TableHistoryEntry) -> int | None:
    """The version a RESTORE commit went back to (ours or anyone's)."""
    commit = entry.commit
    if commit is not None and "to_version" in commit.info:
        return int(commit.info["to_version"])
    if entry.operation.upper() == "RESTORE":
        value = entry.parameters.get("version")
        return int(value) if value not in (None, "", "null") else None
    return None


def lineage(entries: Iterable[TableHistoryEntry]) -> Iterator[TableHistoryEntry]:
    """History newest first, as the table's current state descends: past a RESTORE, the
    commits it undid are skipped."""
    limit: int | None = None
    for entry in entries:
        if limit is not None and entry.version > limit:
            continue
        yield entry
        back = restored_version(entry)
        if back is not None:
            limit = back if limit is None else min(limit, back)


def _history(store: TableStore, path: str, at_version: int | None) -> Iterator[TableHistoryEntry]:
    """Newest first, fetching more of the log only when needed."""
    seen = -1
    for limit in _PAGES:
        entries = store.history(path, limit)
        for entry in entries[seen + 1 :]:
            if at_version is None or entry.version <= at_version:
                yield entry
        seen = len(entries) - 1
        if limit is None or len(entries) < limit:
            return


def find_commit(
    store: TableStore,
    path: str,
    job: str,
    kinds: Iterable[str],
    at_version: int | None = None,
) -> tuple[TableHistoryEntry, Commit] | None:
    """The newest commit of `job` of one of `kinds` in the table's lineage."""
    wanted = set(kinds)
    if not store.exists(path):
        return None
    for entry in lineage(_history(store, path, at_version)):
        commit = entry.commit
        if commit is not None and commit.job == job and commit.info.get("kind") in wanted:
            return entry, commit
    return None


def latest_state(
    store: TableStore, path: str, job: str, at_version: int | None = None
) -> JobState | None:
    """The state `job` last recorded on `path` (as of `at_version`); None before its first
    publish."""
    found = find_commit(store, path, job, STATE_KINDS, at_version)
    if found is None:
        return None
    entry, commit = found
    state = dict(commit.info.get("state") or {})
    sources = {k: int(v) for k, v in (state.pop("sources", None) or {}).items()}
    skip = {k: [list(map(int, r)) for r in v] for k, v in (state.pop("skip", None) or {}).items()}
    return JobState(entry.version, commit.run_id, sources, skip, state)


def pending_ranges(
    consumed: int | None, current: int, skip: Iterable[Iterable[int]] = ()
) -> list[tuple[int, int]]:
    """Version ranges (inclusive) after `consumed` up to `current`, minus the skipped ones."""
    start = 0 if consumed is None else consumed + 1
    ranges = [(start, current)] if start <= current else []
    for low, high in sorted(tuple(r) for r in skip):  # type: ignore[misc]
        cut: list[tuple[int, int]] = []
        for a, b in ranges:
            if high < a or low > b:
                cut.append((a, b))
                continue
            if a < low:
                cut.append((a, low - 1))
            if high < b:
                cut.append((high + 1, b))
        ranges = cut
    return ranges


NO_DATA_OPERATIONS = ("OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "CREATE TABLE")


ROW_METRICS = (
    "numTargetRowsInserted",
    "numTargetRowsUpdated",
    "numTargetRowsDeleted",
    "num_target_rows_inserted",
    "num_target_rows_updated",
    "num_target_rows_deleted",
)


def changes_data(entry: TableHistoryEntry) -> bool:
    """False for commits that change no rows: bookkeeping marks, OPTIMIZE, VACUUM, table
    property changes, the creation of an empty table (one no job labelled), and a MERGE that
    matched nothing to change (delta-spark commits one)."""
    commit = entry.commit
    if commit is not None and commit.info.get("kind") in (MARK, MAINTENANCE):
        return False
    if entry.operation.upper() == "CREATE TABLE" and commit is not None:
        return True  # a job's table created holding its first batch (storage/adopted_files.py)
    if entry.operation.upper() == "MERGE":
        counts = [int(entry.metrics[m]) for m in ROW_METRICS if m in entry.metrics]
        return not counts or any(counts)
    return entry.operation.upper() not in NO_DATA_OPERATIONS


def with_data_changes(
    store: TableStore, path: str, ranges: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The ranges holding at least one commit that changed rows (a range of only maintenance
    or bookkeeping commits has nothing for a consumer to read)."""
    wanted = list(ranges)
    if not wanted:
        return []
    oldest = min(a for a, _ in wanted)
    changed = set()
    for entry in _history(store, path, None):
        if entry.version < oldest:
            break
        if changes_data(entry):
            changed.add(entry.version)
    return [(a, b) for a, b in wanted if any(a <= v <= b for v in changed)]


def data_version(store: TableStore, path: str) -> int:
    """The version of the newest commit that changed rows (the table's content version)."""
    for entry in lineage(_history(store, path, None)):
        if changes_data(entry):
            return entry.version
    return store.version(path)


def state_info(
    sources: Mapping[str, int], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The `state` a publishing commit records: consumed versions, no skips, and extras."""
    return {"sources": dict(sources), "skip": {}, **(extra or {})}
