"""Row-level data quality in Spark, derived from a contract.

`check(contract, parents, future_horizon_days)` turns bronze text rows into typed columns plus
two arrays: `_errors` (every failed error-severity rule; the row is quarantined) and `_warnings`
(kept, reported).
All rules run on every row, so a rejected row carries all of its reasons, not just the first.

Timestamps are ISO-8601 text, `T` or space between date and time, seconds and up to nine
fractional digits optional (truncated to the microsecond). One with an offset (`+02:00`, `-0500`,
`+02`) or `Z` is converted to UTC; one without is taken as UTC. The session time zone is UTC,
so the typed value and the `order_date` derived from it are UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.contracts import (
    BEYOND_HORIZON,
    FUTURE_HORIZON_DAYS,
    Contract,
    Field,
    Reference,
    Rule,
    Severity,
    beyond_horizon,
)

LINEAGE = ("_source_file", "_source_sheet", "_source_row", "_batch_id", "_ingested_at", "_row_hash")

_INTEGER = r"^[+-]?[0-9]+(\.0*)?$"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_EXPECTED = {
    "bigint": "a whole number",
    "int": "a whole number",
    "decimal": "a decimal number",
    "timestamp": "an ISO-8601 timestamp",
    "date": "a yyyy-MM-dd date",
}
# `[XXX]` reads `+02:00` and `Z`, `[X]` reads `+0200` and `+02`; a parsed offset moves the value
# to UTC.
_TIMESTAMP_FORMATS = tuple(f"yyyy-MM-dd{sep}HH:mm[:ss][.SSSSSSSSS][XXX][X]" for sep in ("'T'", " "))


def _text(field: Field) -> Column:
    trimmed = F.trim(F.col(field.source))
    return F.when(trimmed != "", trimmed)


def parse_value(field: Field) -> Column:
    """Typed value of a source text column; null when empty or unparseable."""
    text = _text(field)
    if field.dtype in ("bigint", "int"):
        whole = text.cast("decimal(38,0)").cast(field.dtype)
        return F.when(text.rlike(_INTEGER), whole)
    if field.dtype.startswith("decimal"):
        return F.when(text.rlike(_NUMBER), text.cast(field.dtype))
    if field.dtype == "timestamp":
        return F.coalesce(*[F.to_timestamp(text, fmt) for fmt in _TIMESTAMP_FORMATS])
    if field.dtype == "date":
        return F.to_date(text, "yyyy-MM-dd")
    return text


def parse_failure_code(field: Field) -> str:
    if field.dtype in ("bigint", "int"):
        return f"{field.name}.not_integer"
    if field.dtype.startswith("decimal"):
        return f"{field.name}.not_numeric"
    return f"{field.name}.unparseable"


def missing_code(field: Field) -> str:
    return f"{field.name}.empty" if field.dtype == "string" else f"{field.name}.null"


@dataclass(frozen=True)
class RuleEntry:
    """One reason a row can carry: its code, severity, what it means and whether it retries."""

    code: str
    severity: Severity
    description: str
    retryable: bool = False


def catalogue(contract: Contract) -> list[RuleEntry]:
    """Every reason `check` can give for the contract's rows, in the order it checks them."""
    entries = []
    for f in contract.fields:
        if f.required:
            entries.append(RuleEntry(missing_code(f), Severity.ERROR, f"{f.source} is empty"))
        if f.dtype != "string":
            expected = _EXPECTED.get(f.dtype.split("(")[0], f.dtype)
            entries.append(
                RuleEntry(parse_failure_code(f), Severity.ERROR, f"{f.source} is not {expected}")
            )
    entries += [RuleEntry(r.code, r.severity, r.description) for r in contract.rules]
    for ref in contract.references:
        entries.append(
            RuleEntry(
                ref.code,
                Severity.ERROR,
                f"no silver {ref.parent} row has {ref.parent_key} = {ref.column}",
                retryable=True,
            )
        )
        for child, parent_col in ref.same:
            entries.append(
                RuleEntry(
                    ref.mismatch_code(child),
                    Severity.ERROR,
                    f"{child} differs from the {ref.parent.rstrip('s')}'s {parent_col}",
                )
            )
    return entries


def _flags(conditions: list[tuple[Column, str]]) -> Column:
    if not conditions:
        return F.array().cast("array<string>")
    return F.array_compact(F.array(*[F.when(c, F.lit(code)) for c, code in conditions]))


def _parent_alias(ref: Reference, column: str) -> str:
    return f"_parent_{ref.parent}_{column}"


def _join_parents(df: DataFrame, contract: Contract, parents: Mapping[str, DataFrame]) -> DataFrame:
    for ref in contract.references:
        wanted = [ref.parent_key, *[p for _, p in ref.same]]
        parent = parents[ref.parent].select(
            *[F.col(c).alias(_parent_alias(ref, c)) for c in dict.fromkeys(wanted)]
        )
        df = df.join(parent, F.col(ref.column) == F.col(_parent_alias(ref, ref.parent_key)), "left")
    return df


def _reference_conditions(contract: Contract) -> list[tuple[Column, str]]:
    conditions = []
    for ref in contract.references:
        found = F.col(_parent_alias(ref, ref.parent_key)).isNotNull()
        conditions.append((F.col(ref.column).isNotNull() & ~found, ref.code))
        for child, parent_col in ref.same:
            differs = F.col(child) != F.col(_parent_alias(ref, parent_col))
            conditions.append((found & F.coalesce(differs, F.lit(False)), ref.mismatch_code(child)))
    return conditions


def rules_for(
    contract: Contract, future_horizon_days: int = FUTURE_HORIZON_DAYS, run_date: date | None = None
) -> tuple[Rule, ...]:
    """The contract's rules, the future-horizon warning set to `future_horizon_days` after
    `run_date` (default: today, UTC)."""
    today = run_date or datetime.now(UTC).date()
    horizon = beyond_horizon(future_horizon_days, today)
    return tuple(horizon if r.code == BEYOND_HORIZON else r for r in contract.rules)


def check(
    contract: Contract,
    parents: Mapping[str, DataFrame] | None = None,
    future_horizon_days: int = FUTURE_HORIZON_DAYS,
    run_date: date | None = None,
) -> Callable[[DataFrame], DataFrame]:
    """Bronze rows → the same rows with typed columns, `_raw`, `_errors` and `_warnings`.

    A timestamp dated more than `future_horizon_days` after `run_date` (default: the UTC date
    when `check` is called) is a warning, `order_timestamp.beyond_horizon`.
    """
    rules = rules_for(contract, future_horizon_days, run_date)

    def _check(bronze: DataFrame) -> DataFrame:
        raw = F.struct(*[F.col(c) for c in contract.source_columns]).alias("_raw")
        extra_meta = [c for c in bronze.columns if c.startswith("_") and c not in LINEAGE]
        typed = bronze.select(
            raw,
            *[parse_value(f).alias(f.name) for f in contract.fields],
            *LINEAGE,
            *extra_meta,
        )
        for name, dtype, expression in contract.derived:
            typed = typed.withColumn(name, F.expr(expression).cast(dtype))
        typed = _join_parents(typed, contract, parents or {})

        errors: list[tuple[Column, str]] = []
        for f in contract.fields:
            raw_text = F.trim(F.col(f"_raw.{f.source}"))
            present = raw_text.isNotNull() & (raw_text != "")
            if f.required:
                errors.append((~present, missing_code(f)))
            if f.dtype != "string":
                errors.append((present & F.col(f.name).isNull(), parse_failure_code(f)))
        warnings: list[tuple[Column, str]] = []
        for rule in rules:
            violated = F.coalesce(F.expr(rule.violated), F.lit(False))
            (errors if rule.severity is Severity.ERROR else warnings).append((violated, rule.code))
        errors.extend(_reference_conditions(contract))

        checked = typed.withColumn("_errors", _flags(errors)).withColumn(
            "_warnings", _flags(warnings)
        )
        parent_columns = [c for c in checked.columns if c.startswith("_parent_")]
        return checked.drop(*parent_columns)

    return _check


def valid_rows(checked: DataFrame) -> DataFrame:
    return checked.where(F.size("_errors") == 0)


def rejected_rows(checked: DataFrame) -> DataFrame:
    return checked.where(F.size("_errors") > 0)
