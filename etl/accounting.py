"""Every input row accounted for: bronze = silver + quarantine + duplicates, per dataset.

Counts come from the tables' Delta logs; the duplicates from the silver job's state, recorded
in the same commit as the silver rows (`totals.valid_in`: every valid row it ever read, so
duplicates = valid rows read - silver rows). Nothing here depends on a record a crash could
leave missing: a balance that fails names a real gap between what arrived and what was kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl.bookkeeping import latest_state
from etl.registry import datasets
from etl.runner import JobContext


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


def balances(ctx: JobContext) -> list[Balance]:
    return [balance(ctx, d) for d in datasets()]


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
