"""Silver transforms: keep the latest row per business key, shape silver and quarantine rows."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.contracts import Contract
from etl.quality.row_rules import LINEAGE
from etl.storage import changed_predicate

TIE_BREAKERS = ("_ingested_at", "_source_file", "_source_sheet", "_source_row")


def latest_per_key(contract: Contract) -> Callable[[DataFrame], DataFrame]:
    """One row per key: the latest by the contract's order, then the later ingestion."""
    order = [F.col(c).desc_nulls_last() for c in (*contract.latest_first_by, *TIE_BREAKERS)]
    window = Window.partitionBy(*contract.key).orderBy(*order)

    def _latest(valid: DataFrame) -> DataFrame:
        ranked = valid.withColumn("_rank", F.row_number().over(window))
        return ranked.where(F.col("_rank") == 1).drop("_rank")

    return _latest


def newer_than_target(contract: Contract) -> str:
    """Merge condition: the source row is newer than the stored one."""
    ordered = [*contract.latest_first_by, "_ingested_at"]
    clauses = []
    for i, column in enumerate(ordered):
        equal = [f"s.{c} = t.{c}" for c in ordered[:i]]
        clauses.append(" AND ".join([*equal, f"s.{column} > t.{column}"]))
    return " OR ".join(f"({c})" for c in clauses)


def newer_and_different(contract: Contract) -> str:
    """Merge condition: the source row replaces the stored one only when it is newer **and**
    differs in a silver column, so an identical row sent again changes nothing downstream."""
    values = [c for c in contract.silver_columns if c not in contract.key]
    return f"({newer_than_target(contract)}) AND ({changed_predicate(values)})"


def to_silver(contract: Contract) -> Callable[[DataFrame], DataFrame]:
    def _shape(latest: DataFrame) -> DataFrame:
        return latest.select(*contract.silver_columns, "_warnings", *LINEAGE)

    return _shape


def to_quarantine(
    contract: Contract, run_id: str, quarantined_at: str
) -> Callable[[DataFrame], DataFrame]:
    """Rejected rows with their original text values and every reason."""
    retryable = sorted(contract.retryable_codes())

    def _shape(rejected: DataFrame) -> DataFrame:
        only_retryable = (
            F.size(F.array_except(F.col("_errors"), F.array(*[F.lit(c) for c in retryable]))) == 0
            if retryable
            else F.lit(False)
        )
        return rejected.select(
            F.lit(contract.dataset).alias("dataset"),
            *[F.col(f"_raw.{c}").alias(c) for c in contract.source_columns],
            F.col("_extra"),
            *LINEAGE,
            F.col("_errors").alias("reasons"),
            only_retryable.alias("retryable"),
            F.lit(run_id).alias("run_id"),
            F.lit(quarantined_at).cast("timestamp").alias("quarantined_at"),
        )

    return _shape


def quarantine_as_bronze(contract: Contract) -> Callable[[DataFrame], DataFrame]:
    """Quarantined rows back in bronze shape, to check again: their parents may exist now."""

    def _shape(quarantined: DataFrame) -> DataFrame:
        return quarantined.select(*contract.source_columns, "_extra", *LINEAGE)

    return _shape
