"""Great Expectations suites: silver suites derived from the contracts, gold suites declared with
each gold table (etl/gold/*_etl.py) from the helpers here.

Each expectation carries `meta.severity`: `error` fails the run, `warn` is recorded and logged.
Row rules are reused verbatim as `UnexpectedRowsExpectation` queries, so the quarantine split and
the table validation cannot drift apart. Queries may name other tables through the temporary
views `silver_<dataset>` of the silver tables the job reads, at the versions it read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from etl.contracts import Contract, Rule, Severity

FRESHNESS_DAYS = 7


@dataclass(frozen=True)
class Check:
    """A declarative expectation: a GE expectation class name, its arguments and a severity.

    A check with a `flag` is a rule over rows: `flag` is a Spark SQL condition, true on a row
    that violates it, over the rows about to be published (alias `b`; `{batch}` names them as a
    whole in scalar subqueries) and the `joins` it needs. All flags of a table are computed in
    one query and Great Expectations checks each flag column is never true, so a table's suite
    costs one pass over its rows however many rules it has.
    """

    expectation: str
    kwargs: dict[str, Any]
    severity: Severity = Severity.ERROR
    description: str = ""
    flag: str | None = None
    joins: tuple[str, ...] = ()


def rows_where(
    condition: str,
    description: str,
    severity: Severity = Severity.ERROR,
    joins: tuple[str, ...] = (),
) -> Check:
    """Every row where `condition` holds is unexpected."""
    return Check("ExpectColumnValuesToBeInSet", {}, severity, description, condition, joins)


def unique(*columns: str) -> Check:
    """Key uniqueness: every row whose key appears more than once is unexpected."""
    key = ", ".join(f"b.{c}" for c in columns)
    return rows_where(f"count(1) OVER (PARTITION BY {key}) > 1", f"{', '.join(columns)} is unique")


def not_null(column: str) -> Check:
    return Check(
        "ExpectColumnValuesToNotBeNull", {"column": column}, description=f"{column} is not null"
    )


def between(column: str, low: float | None, high: float | None) -> Check:
    return Check(
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": low, "max_value": high},
        description=f"{column} within [{low}, {high}]",
    )


NOT_EMPTY = Check("ExpectTableRowCountToBeBetween", {"min_value": 1}, description="table has rows")


def silver_checks(contract: Contract, rules: Sequence[Rule] | None = None) -> list[Check]:
    """The suite of a silver table: its key, its required columns, its row rules (`rules`:
    the contract's, with the run's future horizon) and its references."""
    checks = [NOT_EMPTY, unique(*contract.key)]
    checks += [not_null(f.name) for f in contract.fields if f.required and f.keep]
    for rule in contract.rules if rules is None else rules:
        if rule.code.startswith("date."):
            continue  # the source date column is not kept in silver
        checks.append(rows_where(rule.violated, f"{rule.code}: {rule.description}", rule.severity))
    for ref in contract.references:
        alias = f"p_{ref.parent}"
        wanted = dict.fromkeys([ref.parent_key, *(p for _, p in ref.same)])
        columns = ", ".join(f"{c} AS {alias}_{c}" for c in wanted)
        join = (
            f"LEFT JOIN (SELECT DISTINCT {columns} FROM silver_{ref.parent}) {alias} "
            f"ON b.{ref.column} = {alias}.{alias}_{ref.parent_key}"
        )
        found = f"{alias}.{alias}_{ref.parent_key} IS NOT NULL"
        checks.append(
            rows_where(
                f"b.{ref.column} IS NOT NULL AND NOT ({found})",
                f"{ref.code}: every {ref.column} exists in silver {ref.parent}",
                joins=(join,),
            )
        )
        for child, parent_col in ref.same:
            checks.append(
                rows_where(
                    f"{found} AND b.{child} <> {alias}.{alias}_{parent_col}",
                    f"{ref.mismatch_code(child)}: {child} agrees with the {ref.parent}",
                    joins=(join,),
                )
            )
    checks.append(
        rows_where(
            f"(SELECT max(_ingested_at) FROM {{batch}}) "
            f"< current_timestamp() - INTERVAL {FRESHNESS_DAYS} DAYS",
            f"freshness: newest row ingested within {FRESHNESS_DAYS} days",
            Severity.WARN,
        )
    )
    return checks


RATE = (0.0, 1.0)
