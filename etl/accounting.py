"""Every input row accounted for: bronze = silver + quarantine + duplicates removed, per dataset."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import functions as F

from etl.audit import runs_path
from etl.jobs import JobContext
from etl.settings import DATASETS


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


def _count(ctx: JobContext, layer: str, dataset: str) -> int:
    path = ctx.path(layer, dataset)
    return ctx.store.read(path).count() if ctx.store.exists(path) else 0


def balances(ctx: JobContext) -> list[Balance]:
    duplicates: dict[str, int] = {}
    if ctx.store.exists(runs_path(ctx)):
        rows = (
            ctx.store.read(runs_path(ctx))
            .where(F.col("job").startswith("silver."))
            .groupBy("job")
            .agg(F.sum("duplicates").alias("d"))
            .collect()
        )
        duplicates = {r["job"].split(".", 1)[1]: int(r["d"] or 0) for r in rows}
    return [
        Balance(
            dataset=d,
            bronze=_count(ctx, "bronze", d),
            silver=_count(ctx, "silver", d),
            quarantine=_count(ctx, "quarantine", d),
            duplicates=duplicates.get(d, 0),
        )
        for d in DATASETS
    ]


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
