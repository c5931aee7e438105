"""Great Expectations suites: silver suites derived from the contracts, gold suites declared here.

Each expectation carries `meta.severity`: `error` fails the run, `warn` is recorded and logged.
Row rules are reused verbatim as `UnexpectedRowsExpectation` queries, so the quarantine split and
the table validation cannot drift apart. Queries may name other tables through the temporary
views `silver_products`, `silver_orders` and `silver_order_items`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from etl.contracts import CONTRACTS, Contract, Severity

FRESHNESS_DAYS = 7


@dataclass(frozen=True)
class Check:
    """A declarative expectation: a GE expectation class name, its arguments and a severity."""

    expectation: str
    kwargs: dict[str, Any]
    severity: Severity = Severity.ERROR
    description: str = ""


def rows_where(condition: str, description: str, severity: Severity = Severity.ERROR) -> Check:
    query = f"SELECT * FROM (SELECT *, ({condition}) AS _violated FROM {{batch}}) WHERE _violated"
    return Check(
        "UnexpectedRowsExpectation", {"unexpected_rows_query": query}, severity, description
    )


def unique(*columns: str) -> Check:
    """Key uniqueness as a query: every row whose key appears more than once is unexpected."""
    key = ", ".join(columns)
    query = (
        f"SELECT * FROM {{batch}} WHERE ({key}) IN "
        f"(SELECT {key} FROM {{batch}} GROUP BY {key} HAVING count(*) > 1)"
    )
    return Check(
        "UnexpectedRowsExpectation",
        {"unexpected_rows_query": query},
        description=f"{key} is unique",
    )


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


def silver_checks(contract: Contract) -> list[Check]:
    checks = [NOT_EMPTY, unique(*contract.key)]
    checks += [not_null(f.name) for f in contract.fields if f.required and f.keep]
    for rule in contract.rules:
        if rule.code.startswith("date."):
            continue  # the source date column is not kept in silver
        checks.append(rows_where(rule.violated, f"{rule.code}: {rule.description}", rule.severity))
    for ref in contract.references:
        on = f"b.{ref.column} = p.{ref.parent_key}"
        query = f"SELECT b.* FROM {{batch}} b LEFT ANTI JOIN silver_{ref.parent} p ON {on}"
        checks.append(
            Check(
                "UnexpectedRowsExpectation",
                {"unexpected_rows_query": query},
                description=f"{ref.code}: every {ref.column} exists in silver {ref.parent}",
            )
        )
        for child, parent_col in ref.same:
            mismatch = (
                f"SELECT b.* FROM {{batch}} b JOIN silver_{ref.parent} p ON {on} "
                f"WHERE b.{child} <> p.{parent_col}"
            )
            checks.append(
                Check(
                    "UnexpectedRowsExpectation",
                    {"unexpected_rows_query": mismatch},
                    description=f"{ref.mismatch_code(child)}: {child} agrees with the {ref.parent}",
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

GOLD_CHECKS: dict[str, list[Check]] = {
    "daily_sales": [
        NOT_EMPTY,
        unique("order_date"),
        not_null("order_date"),
        between("total_orders", 1, None),
        between("total_revenue", 0, None),
        between("reorder_rate", *RATE),
        rows_where(
            "(SELECT sum(total_revenue) FROM {batch}) "
            "<> (SELECT sum(total_amount) FROM silver_orders)",
            "revenue reconciles with silver orders",
        ),
        rows_where(
            "(SELECT sum(total_items) FROM {batch}) <> (SELECT count(*) FROM silver_order_items)",
            "item count reconciles with silver order_items",
        ),
    ],
    "product_performance": [
        NOT_EMPTY,
        unique("product_id"),
        not_null("product_id"),
        between("units_sold", 0, None),
        between("reorder_rate", *RATE),
        rows_where("order_count > units_sold", "an order holds at least one unit"),
        rows_where("first_order_date > last_order_date", "first order not after last"),
    ],
    "department_analytics": [
        NOT_EMPTY,
        unique("department"),
        not_null("department"),
        between("share_of_units", *RATE),
        Check(
            "ExpectColumnSumToBeBetween",
            {"column": "share_of_units", "min_value": 0.999999, "max_value": 1.000001},
            description="shares add up to 1",
        ),
    ],
    "customer_insights": [
        NOT_EMPTY,
        unique("user_id"),
        not_null("user_id"),
        between("total_orders", 1, None),
        between("total_spend", 0, None),
        between("reorder_rate", *RATE),
        Check(
            "ExpectColumnValuesToBeInSet",
            {"column": "segment", "value_set": ["champion", "loyal", "big_spender", "new"]},
            description="segment is a known one",
        ),
        rows_where("first_order_at > last_order_at", "first order not after last"),
    ],
}


def checks_for(layer: str, name: str) -> list[Check]:
    if layer == "silver":
        return silver_checks(CONTRACTS[name])
    return GOLD_CHECKS[name]
