"""One run at a time per lakehouse: the run lock.

A local lakehouse is locked by the file `<lakehouse>/_lock.json`, created atomically
(`O_CREAT | O_EXCL`) and removed when the run ends. It names the run, the process and the
host. A second run is refused with exit code 2 and a message naming the holder; a lock whose
process is gone from this host (a run that was killed) is stale and is taken over with a
warning. On S3, the AWS deployment serialises runs with the state machine's DynamoDB lock
(docs/deployment.md), so no lock file is written there.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from etl.errors import LakehouseLockedError

log = logging.getLogger(__name__)

LOCK_FILE = "_lock.json"


def lock_path(lakehouse_dir: str) -> str:
    return os.path.join(lakehouse_dir, LOCK_FILE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path: str) -> dict[str, object] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return dict(json.load(handle))
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # being written, or damaged: treated as held


def _stale(holder: dict[str, object]) -> bool:
    pid = holder.get("pid")
    same_host = holder.get("host") == socket.gethostname()
    return same_host and isinstance(pid, int) and not _alive(pid)


def _create(path: str, content: dict[str, object]) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(content, handle)
    return True


def acquire(lakehouse_dir: str, run_id: str, command: str) -> str | None:
    """Take the lock; return its path (None for a lakehouse on S3)."""
    if lakehouse_dir.startswith("s3://"):
        return None
    os.makedirs(lakehouse_dir, exist_ok=True)
    path = lock_path(lakehouse_dir)
    content: dict[str, object] = {
        "run_id": run_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
    }
    for _attempt in range(3):
        if _create(path, content):
            return path
        holder = _holder(path)
        if holder is None:
            continue  # released meanwhile
        if not _stale(holder):
            raise LakehouseLockedError(_held_message(lakehouse_dir, holder))
        log.warning(
            "removing the stale lock of run %s (process %s on %s no longer runs)",
            holder.get("run_id"),
            holder.get("pid"),
            holder.get("host"),
        )
        os.remove(path)
    raise LakehouseLockedError(f"could not lock {lakehouse_dir}; try again")


def _held_message(lakehouse_dir: str, holder: dict[str, object]) -> str:
    return (
        f"the lakehouse {lakehouse_dir} is in use by run {holder.get('run_id', '?')} "
        f"({holder.get('command', '?')}, process {holder.get('pid', '?')} on "
        f"{holder.get('host', '?')} since {holder.get('since', '?')}); wait for it to finish, "
        f"or, if that process no longer runs, delete {lock_path(lakehouse_dir)}"
    )


def release(path: str | None, run_id: str) -> None:
    if path is None:
        return
    holder = _holder(path)
    if holder is not None and holder.get("run_id") == run_id:
        os.remove(path)


@contextmanager
def lakehouse_lock(lakehouse_dir: str, run_id: str, command: str) -> Iterator[None]:
    path = acquire(lakehouse_dir, run_id, command)
    try:
        yield
    finally:
        release(path, run_id)
