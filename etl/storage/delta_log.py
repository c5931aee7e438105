"""Reading a Delta table's commit log directly: its latest version and its newest commits.

The log is the folder `<table>/_delta_log/` holding one `<version>.json` file per commit (20
zero-padded digits; Delta protocol, "Delta Log Entries"), each line one action, one of them the
`commitInfo` with the operation, its metrics and `userMetadata`. Reading the newest files is
all that the bookkeeping needs, and it needs no Spark job: delta-spark would start one per
`history()` call. Local paths and s3:// URIs are read through pyarrow's file systems.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pyarrow.fs as pafs

COMMIT_FILE = re.compile(r"^(\d{20})\.json$")


def _log_folder(table_uri: str) -> tuple[pafs.FileSystem, str]:
    uri = table_uri if "://" in table_uri else os.path.abspath(table_uri)
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, f"{path.rstrip('/')}/_delta_log"


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
