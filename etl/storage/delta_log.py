"""Reading a Delta table's commit log directly: its latest version, its newest commits, its
row count, and whether its files' statistics allow a key to be in it.

The log is the folder `<table>/_delta_log/` holding one `<version>.json` file per commit (20
zero-padded digits; Delta protocol, "Delta Log Entries"), each line one action, one of them the
`commitInfo` with the operation, its metrics and `userMetadata`. Reading the newest files is
all that the bookkeeping needs, and it needs no Spark job: delta-spark would start one per
`history()` call. The row count adds up the `numRecords` statistic of the live data files,
replayed from the last Parquet checkpoint (Delta protocol, "Checkpoints") and the commits after
it. The same live files' minimum and maximum statistics tell when a merge's keys cannot match
any row (Delta protocol, "Per-file Statistics"), so a few new audit rows are appended without a
Spark job to look for them. Local paths and s3:// URIs are read through pyarrow's file systems.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow.fs as pafs

COMMIT_FILE = re.compile(r"^(\d{20})\.json$")


def _table_folder(table_uri: str) -> tuple[pafs.FileSystem, str]:
    uri = table_uri if "://" in table_uri else os.path.abspath(table_uri)
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path.rstrip("/")


def _log_folder(table_uri: str) -> tuple[pafs.FileSystem, str]:
    fs, root = _table_folder(table_uri)
    return fs, f"{root}/_delta_log"


def table_files(table_uri: str) -> set[str]:
    """Every file under the table's folder outside its log, as VACUUM counts them: without the
    hidden ones (a local file system's `.crc` checksums, which go with their files)."""
    fs, root = _table_folder(table_uri)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    files = set()
    for info in infos:
        parts = info.path[len(root) + 1 :].split("/")
        hidden = parts[0] == "_delta_log" or any(part.startswith(".") for part in parts)
        if info.type == pafs.FileType.File and not hidden:
            files.add(info.path)
    return files


def commit_versions(table_uri: str) -> list[int]:
    """Every version whose commit file is still in the log, oldest first."""
    fs, folder = _log_folder(table_uri)
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    versions = []
    for info in infos:
        match = COMMIT_FILE.match(info.base_name)
        if match:
            versions.append(int(match.group(1)))
    return sorted(versions)


def latest_version(table_uri: str) -> int | None:
    versions = commit_versions(table_uri)
    return versions[-1] if versions else None


def commit_info(table_uri: str, version: int) -> dict[str, Any]:
    """The `commitInfo` action of one commit (empty when the commit wrote none)."""
    fs, folder = _log_folder(table_uri)
    with fs.open_input_stream(f"{folder}/{version:020d}.json") as stream:
        text = stream.read().decode("utf-8")
    for line in text.splitlines():
        if '"commitInfo"' in line:
            action = json.loads(line)
            if "commitInfo" in action:
                return dict(action["commitInfo"])
    return {}


def newest_commits(table_uri: str, limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(version, commitInfo) of the newest commits, newest first."""
    versions = commit_versions(table_uri)[::-1]
    if limit is not None:
        versions = versions[:limit]
    return [(v, commit_info(table_uri, v)) for v in versions]


LAST_CHECKPOINT = "_last_checkpoint"


def _checkpoint_adds(fs: pafs.FileSystem, folder: str) -> tuple[int, dict[str, Any]] | None:
    """The checkpoint's version and its live files (path -> add action), from the classic
    single- or multi-part Parquet checkpoint that `_last_checkpoint` names; (-1, {}) without
    a checkpoint; None for a form this reader does not know (a V2 checkpoint)."""
    import pyarrow.parquet as pq  # only where a count is read from the log

    try:
        with fs.open_input_stream(f"{folder}/{LAST_CHECKPOINT}") as stream:
            pointer = json.loads(stream.read().decode("utf-8"))
    except FileNotFoundError:
        return -1, {}
    if "v2Checkpoint" in pointer:
        return None
    version, parts = int(pointer["version"]), pointer.get("parts")
    names = (
        [f"{version:020d}.checkpoint.{i:010d}.{parts:010d}.parquet" for i in range(1, parts + 1)]
        if parts
        else [f"{version:020d}.checkpoint.parquet"]
    )
    adds: dict[str, Any] = {}
    for name in names:
        with fs.open_input_file(f"{folder}/{name}") as source:
            table = pq.read_table(source, columns=["add"])
        for add in table.column("add").to_pylist():
            if add is not None:
                adds[add["path"]] = add
    return version, adds


def row_count(table_uri: str) -> int | None:
    """The table's rows at its latest version from the log alone: the `numRecords` statistic
    of every live data file (the last checkpoint, then the commits after it). None when the
    log cannot say exactly: a file without statistics, a deletion vector, a commit missing, a
    checkpoint form not read here."""
    try:
        return _row_count(table_uri)
    except (OSError, KeyError, ValueError):  # a file gone or unlike the protocol's
        return None


def _live_files(table_uri: str) -> dict[str, Any] | None:
    """The add action of every live data file at the latest version (path -> action), replayed
    from the last checkpoint and the commits after it; None when the log cannot say exactly."""
    fs, folder = _log_folder(table_uri)
    checkpoint = _checkpoint_adds(fs, folder)
    if checkpoint is None:
        return None
    start, live = checkpoint
    versions = [v for v in commit_versions(table_uri) if v > start]
    if versions != list(range(start + 1, start + 1 + len(versions))) or not (versions or live):
        return None
    for version in versions:
        with fs.open_input_stream(f"{folder}/{version:020d}.json") as stream:
            lines = stream.read().decode("utf-8").splitlines()
        for line in lines:
            action = json.loads(line) if line.strip() else {}
            if "add" in action:
                live[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    return live


def _row_count(table_uri: str) -> int | None:
    live = _live_files(table_uri)
    if live is None:
        return None
    total = 0
    for add in live.values():
        stats = add.get("stats")
        records = json.loads(stats).get("numRecords") if stats else None
        if records is None or add.get("deletionVector"):
            return None
        total += int(records)
    return total


# Writers may cut a string statistic to a prefix (delta-spark: 32 characters, then a tie-breaker
# character on a maximum): a string this long or longer bounds nothing here.
STRING_STAT_LIMIT = 32


def _within(value: object, low: object, high: object) -> bool:
    """False only when the statistics prove `value` is outside [low, high]."""
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, str) and isinstance(low, str) and isinstance(high, str):
        if max(len(low), len(high)) >= STRING_STAT_LIMIT:
            return True
        return low <= value <= high
    if isinstance(value, int) and all(
        isinstance(b, int) and not isinstance(b, bool) for b in (low, high)
    ):
        return bool(low <= value <= high)  # type: ignore[operator]
    return True


def may_hold_keys(
    table_uri: str, keys: Sequence[str], rows: Sequence[Mapping[str, object]]
) -> bool:
    """False only when the log's file statistics prove that no live row equals any of `rows`
    on every key column (data skipping on the keys' minimum and maximum, as a MERGE's own
    file pruning does); True on any doubt: a file without statistics for a key, a string
    statistic that may be cut short, a value that is null or of another type."""
    try:
        return _may_hold_keys(table_uri, keys, rows)
    except (OSError, KeyError, ValueError):  # a file gone, a log or statistic unlike the protocol
        return True


def _may_hold_keys(
    table_uri: str, keys: Sequence[str], rows: Sequence[Mapping[str, object]]
) -> bool:
    live = _live_files(table_uri)
    if live is None:
        return True
    for add in live.values():
        stats = json.loads(add["stats"]) if add.get("stats") else {}
        low, high = stats.get("minValues") or {}, stats.get("maxValues") or {}
        if any(k not in low or k not in high for k in keys):
            return True
        if any(all(_within(row[k], low[k], high[k]) for k in keys) for row in rows):
            return True
    return False
