"""Every input row accounted for: bronze = silver + quarantine + duplicates, per dataset.

Counts come from the tables' Delta logs; the duplicates from the silver job's state, recorded
in the same commit as the silver rows (`totals.valid_in`: every valid row it ever read, so
duplicates = valid rows read - silver rows). Nothing here depends on a record a crash could
leave missing: a balance that fails names a real gap between what arrived and what was kept.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import pyarrow.fs as pafs

from etl.bookkeeping import latest_state
from etl.registry import datasets
from etl.runner import JobContext
from etl.storage import delta_log


@dataclass(frozen=True)
class Balance:
    dataset: str
    bronze: int
    silver: int
    quarantine: int
    duplicates: int

    @property
    def balanced(self) -> bool:
        return self.bronze == self.silver + self.quarantine + self.duplicates


def _count(ctx: JobContext, table: str) -> int:
    path = ctx.path(table)
    return ctx.store.count(path) if ctx.store.exists(path) else 0


def balance(ctx: JobContext, dataset: str) -> Balance:
    silver = _count(ctx, f"silver/{dataset}")
    path = ctx.path(f"silver/{dataset}")
    state = latest_state(ctx.store, path, f"silver.{dataset}") if ctx.store.exists(path) else None
    valid_in = int((state.extra.get("totals") or {}).get("valid_in", 0)) if state else 0
    return Balance(
        dataset=dataset,
        bronze=_count(ctx, f"bronze/{dataset}"),
        silver=silver,
        quarantine=_count(ctx, f"quarantine/{dataset}"),
        duplicates=valid_in - silver if state else 0,
    )


CACHE = "_audit/balances.json"


def _versions(ctx: JobContext) -> dict[str, int | None]:
    tables = [f"{layer}/{d}" for d in datasets() for layer in ("bronze", "silver", "quarantine")]
    return {t: delta_log.latest_version(ctx.path(t)) for t in tables}


def _cached(ctx: JobContext, versions: dict[str, int | None]) -> list[Balance] | None:
    fs, path = _cache_file(ctx)
    try:
        with fs.open_input_stream(path) as stream:
            cached = json.loads(stream.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if cached.get("versions") != versions:
        return None
    return [Balance(**b) for b in cached["balances"]]


def _cache_file(ctx: JobContext) -> tuple[pafs.FileSystem, str]:
    uri = ctx.path(CACHE)
    fs, path = pafs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))
    return fs, str(path)


def _remember(ctx: JobContext, versions: dict[str, int | None], counted: list[Balance]) -> None:
    fs, path = _cache_file(ctx)
    body = {"versions": versions, "balances": [asdict(b) for b in counted]}
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as stream:
        stream.write(json.dumps(body, sort_keys=True).encode("utf-8"))


def balances(ctx: JobContext) -> list[Balance]:
    """Every dataset's balance, counted again only when a table changed since last time."""
    versions = _versions(ctx)
    cached = _cached(ctx, versions)
    if cached is not None:
        return cached
    counted = [balance(ctx, d) for d in datasets()]
    if any(v is not None for v in versions.values()):
        _remember(ctx, versions, counted)
    return counted


def format_balances(rows: list[Balance]) -> str:
    lines = [
        f"{'dataset':<12} {'bronze':>8} = {'silver':>8} + {'quarantine':>10} + {'duplicates':>10}"
    ]
    for b in rows:
        mark = "ok" if b.balanced else "UNBALANCED"
        lines.append(
            f"{b.dataset:<12} {b.bronze:>8} = {b.silver:>8} + {b.quarantine:>10} + "
            f"{b.duplicates:>10}  {mark}"
        )
    return "\n".join(lines)
