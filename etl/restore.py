"""Put the whole lakehouse back as it was at the end of an earlier run.

    python -m etl.restore --to-run <run_id> [--dry-run]
    python -m etl.restore --to-time 2025-05-01T12:00:00 [--dry-run]

Every job's row in `_audit/runs` records the version of each table it wrote. The target of a
table is its version at the end of the chosen run (the newest version recorded by that run or
an earlier one); `_audit/runs` itself goes back to the commit holding the run's last row. Each
table is restored with Delta's RESTORE, sources before the jobs that read them, and each
restored table's job state is rebased: the input versions the later runs had consumed are
skipped for good (they no longer hold those rows after the restore), while what was still
pending at the target run stays pending. Run the pipeline afterwards to process the later drops
again. Runs under the lakehouse lock.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from etl import registry
from etl.bookkeeping import RESTORE, latest_state
from etl.cli import guarded, new_context, parser_for, start
from etl.errors import EtlError
from etl.lock import lakehouse_lock
from etl.runner import RUNS, JobContext
from etl.storage import Commit

log = logging.getLogger(__name__)

COMMAND = "python -m etl.restore"
OPTIONS = ("lakehouse_dir", "backend")


@dataclass(frozen=True)
class Step:
    table: str
    owner: str | None  # the job whose state the table holds
    current: int
    target: int

    @property
    def needed(self) -> bool:
        return self.current != self.target


def _owners() -> dict[str, str]:
    return {spec.output: spec.name for spec in registry.specs() if spec.layer != "bronze"}


def _order() -> list[str]:
    """Every table, sources before their readers; `_audit/runs` last."""
    tables = [t for spec in registry.specs() for t in spec.writes if t != RUNS]
    return [*dict.fromkeys(tables), RUNS]


def _runs(ctx: JobContext) -> list[dict[str, Any]]:
    path = ctx.path(RUNS)
    if not ctx.store.exists(path):
        raise EtlError(f"no runs are recorded in {path}; there is nothing to restore to")
    return ctx.store.read_rows(path)


def pick_run(rows: list[dict[str, Any]], run_id: str | None, at: datetime | None) -> str:
    """The run to go back to: the given one, or the last that ended at or before `at`."""
    if run_id is not None:
        if not any(r["run_id"] == run_id for r in rows):
            known = sorted({r["run_id"] for r in rows})
            raise EtlError(f"no run {run_id} in _audit/runs; recorded runs: {', '.join(known)}")
        return run_id
    assert at is not None
    ended = {r["run_id"]: r["finished_at"] for r in rows}
    for r in rows:
        ended[r["run_id"]] = max(ended[r["run_id"]], r["finished_at"])
    earlier = [(end, rid) for rid, end in ended.items() if end <= at]
    if not earlier:
        raise EtlError(f"no run had ended by {at.isoformat()} UTC")
    return str(max(earlier)[1])


def target_versions(ctx: JobContext, rows: list[dict[str, Any]], run_id: str) -> dict[str, int]:
    """Each table's version at the end of the run (runs that ended after it are ignored)."""
    end = max(r["finished_at"] for r in rows if r["run_id"] == run_id)
    targets: dict[str, tuple[datetime, int]] = {}
    for r in rows:
        if r["finished_at"] > end:
            continue
        for table, version in json.loads(r["table_versions"] or "{}").items():
            if table not in targets or targets[table][0] <= r["finished_at"]:
                targets[table] = (r["finished_at"], int(version))
    versions = {t: v for t, (_, v) in targets.items()}
    for entry in ctx.store.history(ctx.path(RUNS)):
        if entry.commit is not None and entry.commit.run_id == run_id:
            versions[RUNS] = entry.version
            break
    return versions


def plan(ctx: JobContext, run_id: str, rows: list[dict[str, Any]]) -> list[Step]:
    targets = target_versions(ctx, rows, run_id)
    owners, steps = _owners(), []
    for table in _order():
        path = ctx.path(table)
        if not ctx.store.exists(path):
            continue
        if table not in targets:
            raise EtlError(
                f"{table} did not exist at the end of run {run_id} (or no run recorded it); "
                "restore to a later run"
            )
        steps.append(Step(table, owners.get(table), ctx.store.version(path), targets[table]))
    return steps


def _rebased(
    ctx: JobContext, step: Step, moved: dict[str, tuple[int, int]]
) -> dict[str, Any] | None:
    """The owner's state as of the target version, with the versions undone in its sources
    skipped: `moved[source] = (version restored to, version the restore created)`."""
    if step.owner is None:
        return None
    state = latest_state(ctx.store, ctx.path(step.table), step.owner, at_version=step.target)
    if state is None:
        return None
    skip = {k: list(v) for k, v in state.skip.items()}
    for source in state.sources:
        if source in moved:
            back, created = moved[source]
            skip.setdefault(source, []).append([back + 1, created])
    return {**state.as_info(), "skip": skip}


def apply(ctx: JobContext, run_id: str, steps: list[Step]) -> dict[str, tuple[int, int]]:
    moved: dict[str, tuple[int, int]] = {}
    for step in steps:
        if not step.needed:
            continue
        info: dict[str, Any] = {"kind": RESTORE, "to_run": run_id, "to_version": step.target}
        state = _rebased(ctx, step, moved)
        if state is not None:
            info["state"] = state
        label = Commit(step.owner or "etl.restore", ctx.run_id, info)
        created = ctx.store.restore(ctx.path(step.table), step.target, label)
        moved[step.table] = (step.target, created)
        log.info("%s: restored to version %d (now version %d)", step.table, step.target, created)
    return moved


def describe(steps: list[Step], run_id: str, dry_run: bool) -> str:
    verb = "would restore" if dry_run else "restored"
    lines = [f"{verb} the lakehouse to the end of run {run_id}:"]
    for s in steps:
        change = f"version {s.current} -> {s.target}" if s.needed else f"version {s.current} kept"
        lines.append(f"  {s.table:<28} {change}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = parser_for(COMMAND, __doc__ or COMMAND, OPTIONS)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-run", help="the run id (see _audit/runs or `etl.query`)")
    target.add_argument(
        "--to-time", help="an ISO-8601 time (UTC): the last run that had ended by then"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    return parser.parse_args(argv)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EtlError(f"--to-time {text!r} is not an ISO-8601 time") from exc
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def restore(ctx: JobContext, run_id: str | None, at: datetime | None, dry_run: bool) -> str:
    rows = _runs(ctx)
    chosen = pick_run(rows, run_id, at)
    steps = plan(ctx, chosen, rows)
    if not dry_run:
        ctx.job = "etl.restore"
        apply(ctx, chosen, steps)
    return describe(steps, chosen, dry_run)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def _body() -> int:
        settings = start(args, OPTIONS)
        ctx = new_context(settings)
        with lakehouse_lock(settings.lakehouse_dir, ctx.run_id, COMMAND):
            print(restore(ctx, args.to_run, _moment(args.to_time), args.dry_run))
        return 0

    return guarded(_body)


if __name__ == "__main__":
    raise SystemExit(main())
