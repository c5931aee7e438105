"""OPTIMIZE (with Z-order where the table has Z-order columns) and VACUUM every table.

Runs under the lakehouse lock, so it never overlaps a pipeline run (on AWS the weekly Glue run
takes the state machine's lock). A table's commits keep carrying its job's state, so the
bookkeeping stays at the top of the log however many maintenance commits follow.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from etl import registry
from etl.bookkeeping import MAINTENANCE, latest_state
from etl.cli import guarded, new_context, parser_for, start
from etl.errors import ConfigurationError
from etl.lock import lakehouse_lock
from etl.runner import JobContext
from etl.settings import (
    DEFAULT_VACUUM_RETENTION_HOURS,
    ZORDER_FILES_PER_PARTITION,
    ZORDER_MAX_FILE_BYTES,
    ZORDER_MIN_FILE_BYTES,
    require_lakehouse,
)
from etl.storage import Commit

log = logging.getLogger(__name__)

COMMAND = "python -m etl.maintenance"
OPTIONS = ("lakehouse_dir", "backend")


def maintained_tables() -> list[tuple[str, str | None, tuple[str, ...], tuple[str, ...]]]:
    """(table, the job whose state it holds, Z-order columns, partition columns) of every table
    a job writes, each once."""
    tables: dict[str, tuple[str, str | None, tuple[str, ...], tuple[str, ...]]] = {}
    for spec in registry.specs():
        owner = spec.name if spec.layer != "bronze" else None
        tables.setdefault(spec.output, (spec.output, owner, spec.zorder_by, spec.partition_by))
        for table in spec.writes[1:]:
            tables.setdefault(table, (table, None, (), ()))
    return list(tables.values())


def zorder_file_bytes(table_bytes: int, partitions: int) -> int:
    """Target file size for a Z-order rewrite: ZORDER_FILES_PER_PARTITION files a partition."""
    per_partition = table_bytes // max(partitions, 1)
    target = per_partition // ZORDER_FILES_PER_PARTITION
    return max(ZORDER_MIN_FILE_BYTES, min(ZORDER_MAX_FILE_BYTES, target))


def _target_file_bytes(
    ctx: JobContext, path: str, zorder: tuple[str, ...], partition_by: tuple[str, ...]
) -> int | None:
    if not zorder:
        return None  # plain compaction keeps the backend's default target size
    partitions = (
        ctx.store.read(path).select(*partition_by).distinct().count() if partition_by else 1
    )
    return zorder_file_bytes(ctx.store.size_bytes(path), partitions)


def _label(ctx: JobContext, path: str, owner: str | None) -> Commit:
    """Maintenance commits carry the owning job's state forward."""
    state = latest_state(ctx.store, path, owner) if owner else None
    info = {"kind": MAINTENANCE, "state": state.as_info() if state else None}
    return Commit(owner or "maintenance", ctx.run_id, info if state else {"kind": MAINTENANCE})


def maintain(ctx: JobContext, retention_hours: int, vacuum: bool = True) -> None:
    if retention_hours < DEFAULT_VACUUM_RETENTION_HOURS:
        raise ConfigurationError(
            f"--retention-hours {retention_hours} is below {DEFAULT_VACUUM_RETENTION_HOURS} "
            "(7 days): VACUUM could delete files that readers and time travel still need"
        )
    ctx.job = "maintenance"
    for table, owner, zorder, partition_by in maintained_tables():
        path = ctx.path(table)
        if not ctx.store.exists(path):
            continue
        target = _target_file_bytes(ctx, path, zorder, partition_by)
        metrics = ctx.store.optimize(path, _label(ctx, path, owner), zorder, target)
        removed = ctx.store.vacuum(path, retention_hours, _label(ctx, path, owner)) if vacuum else 0
        log.info(
            "%s: optimized%s (%s), vacuum removed %d file(s)",
            table,
            f" with Z-order by {', '.join(zorder)}" if zorder else "",
            {k: v for k, v in metrics.items() if k in ("numFilesAdded", "numFilesRemoved")},
            removed,
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = parser_for(COMMAND, __doc__ or COMMAND, OPTIONS)
    parser.add_argument(
        "--retention-hours",
        type=int,
        default=DEFAULT_VACUUM_RETENTION_HOURS,
        metavar="HOURS",
        help="VACUUM keeps files newer than this "
        f"[default: {DEFAULT_VACUUM_RETENTION_HOURS} = 7 days; shorter is refused]",
    )
    parser.add_argument("--no-vacuum", action="store_true", help="only OPTIMIZE, no VACUUM")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def _body() -> int:
        settings = start(args, OPTIONS)
        require_lakehouse(settings)
        ctx = new_context(settings)
        with lakehouse_lock(settings.lakehouse_dir, ctx.run_id, COMMAND):
            maintain(ctx, args.retention_hours, vacuum=not args.no_vacuum)
        return 0

    return guarded(_body)


if __name__ == "__main__":
    raise SystemExit(main())
