"""Fault injection and commit tracing, switched on by environment variables (for tests).

- `ETL_COMMIT_TRACE=<file>`: every commit appends a line `<job> <table> <version>` to the file,
  so a test can list every commit point of a run.
- `ETL_FAULT=<action>@<job>:<table>[#<n>]`: right after the n-th (default first) commit of
  `<job>` to `<table>` (`silver/orders`, `_audit/runs`, ...), the process
  - `exit`: dies at once with `os._exit(FAULT_EXIT_CODE)`, as a `kill -9` would (nothing is
    cleaned up, the lock is left behind);
  - `raise`: raises `SimulatedCrash` (a BaseException nothing in the jobs catches), which ends
    the run where it stands: the tests' quick way to stop at a commit point in-process;
  - `wait=<path>`: waits until the file `<path>` exists (a stand-in for a slow run).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

FAULT_EXIT_CODE = 86


class SimulatedCrash(BaseException):
    """The run stops right after a commit, as if killed (the `raise` fault)."""


@dataclass(frozen=True)
class Fault:
    action: str  # exit | raise | wait
    job: str
    table: str
    occurrence: int = 1
    argument: str = ""

    @staticmethod
    def parse(text: str) -> Fault:
        action, _, where = text.partition("@")
        action, _, argument = action.partition("=")
        where, _, nth = where.partition("#")
        job, _, table = where.partition(":")
        if action not in ("exit", "raise", "wait") or not job or not table:
            raise ValueError(f"ETL_FAULT={text!r}: expected exit@<job>:<table>[#n]")
        return Fault(action, job, table, int(nth or 1), argument)


def commit_hook(lakehouse_dir: str, current_job: Callable[[], str]) -> Callable[[str, int], None]:
    """A table store's `on_commit` that traces commits and triggers the configured fault."""
    root = lakehouse_dir.rstrip("/") + "/"
    trace = os.environ.get("ETL_COMMIT_TRACE")
    fault = Fault.parse(os.environ["ETL_FAULT"]) if os.environ.get("ETL_FAULT") else None
    seen: Counter[tuple[str, str]] = Counter()

    def _on_commit(path: str, version: int) -> None:
        table = path[len(root) :] if path.startswith(root) else path
        job = current_job()
        seen[(job, table)] += 1
        if trace:
            with open(trace, "a", encoding="utf-8") as handle:
                handle.write(f"{job} {table} {version}\n")
        if (
            fault
            and (fault.job, fault.table) == (job, table)
            and fault.occurrence == seen[(job, table)]
        ):
            if fault.action == "exit":
                os._exit(FAULT_EXIT_CODE)
            if fault.action == "raise":
                raise SimulatedCrash(f"{job} stopped after its commit to {table}")
            while not os.path.exists(fault.argument):
                time.sleep(0.05)

    return _on_commit


def enabled() -> bool:
    return bool(os.environ.get("ETL_COMMIT_TRACE") or os.environ.get("ETL_FAULT"))
