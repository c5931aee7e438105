"""OPTIMIZE (with Z-order where the table has Z-order columns) and VACUUM every table."""

from __future__ import annotations

import argparse
import logging
import sys

from etl.contracts import CONTRACTS
from etl.errors import EtlError
from etl.gold.customer_insights_etl import TABLE as CUSTOMER_INSIGHTS
from etl.gold.daily_sales_etl import TABLE as DAILY_SALES
from etl.gold.department_analytics_etl import TABLE as DEPARTMENT_ANALYTICS
from etl.gold.product_performance_etl import TABLE as PRODUCT_PERFORMANCE
from etl.jobs import JobContext, configure_logging, new_context
from etl.settings import (
    DEFAULT_VACUUM_RETENTION_HOURS,
    ZORDER_FILES_PER_PARTITION,
    ZORDER_MAX_FILE_BYTES,
    ZORDER_MIN_FILE_BYTES,
    add_common_arguments,
    settings_from_args,
)

log = logging.getLogger(__name__)

AUDIT_TABLES = ("runs", "ingested_files", "dq_results", "changes")


def maintained_tables() -> list[tuple[str, str, tuple[str, ...]]]:
    """(layer, name, Z-order columns) of every table maintenance looks after."""
    tables: list[tuple[str, str, tuple[str, ...]]] = [("bronze", d, ()) for d in CONTRACTS]
    tables += [("silver", c.dataset, c.zorder_by) for c in CONTRACTS.values()]
    tables += [("quarantine", d, ()) for d in CONTRACTS]
    gold = (DAILY_SALES, PRODUCT_PERFORMANCE, DEPARTMENT_ANALYTICS, CUSTOMER_INSIGHTS)
    tables += [("gold", g.name, g.zorder_by) for g in gold]
    tables += [("_audit", name, ()) for name in AUDIT_TABLES]
    return tables


def zorder_file_bytes(table_bytes: int, partitions: int) -> int:
    """Target file size for a Z-order rewrite: ZORDER_FILES_PER_PARTITION files a partition."""
    per_partition = table_bytes // max(partitions, 1)
    target = per_partition // ZORDER_FILES_PER_PARTITION
    return max(ZORDER_MIN_FILE_BYTES, min(ZORDER_MAX_FILE_BYTES, target))


def _target_file_bytes(
    ctx: JobContext, layer: str, name: str, zorder: tuple[str, ...]
) -> int | None:
    if not zorder:
        return None  # plain compaction keeps the backend's default target size
    path = ctx.path(layer, name)
    partition_by = CONTRACTS[name].partition_by if layer == "silver" else ()
    partitions = (
        ctx.store.read(path).select(*partition_by).distinct().count() if partition_by else 1
    )
    return zorder_file_bytes(ctx.store.size_bytes(path), partitions)


def maintain(ctx: JobContext, retention_hours: int, vacuum: bool = True) -> None:
    for layer, name, zorder in maintained_tables():
        path = ctx.path(layer, name)
        if not ctx.store.exists(path):
            continue
        target = _target_file_bytes(ctx, layer, name, zorder)
        metrics = ctx.store.optimize(path, zorder, target)
        removed = ctx.store.vacuum(path, retention_hours) if vacuum else []
        log.info(
            "%s/%s: optimized%s (%s), vacuum removed %d file(s)",
            layer,
            name,
            f" with Z-order by {', '.join(zorder)}" if zorder else "",
            {k: v for k, v in metrics.items() if k in ("numFilesAdded", "numFilesRemoved")},
            len(removed),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl.maintenance", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument(
        "--retention-hours",
        type=int,
        default=DEFAULT_VACUUM_RETENTION_HOURS,
        help="VACUUM keeps files newer than this (default 168 = 7 days; shorter is refused)",
    )
    parser.add_argument("--no-vacuum", action="store_true", help="only OPTIMIZE")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        ctx = new_context(settings_from_args(args))
        maintain(ctx, args.retention_hours, vacuum=not args.no_vacuum)
    except (EtlError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # delta-rs refuses a retention below the table's minimum
        if "retention" in str(exc).lower():
            print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
