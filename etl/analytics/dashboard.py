"""The dashboard: figures gathered with the query layer, rendered as one self-contained HTML page.

`collect` runs the shipped Athena queries (etl/sql/athena) and a few local-only ones over the
quarantine and audit tables; `render` is a pure function from those results to HTML with inline
SVG charts, so the page needs nothing but a browser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from etl.analytics.engine import QueryResult, run_query, table_exists
from etl.analytics.named_queries import named_query
from etl.analytics.svg import PALETTE, Series, bar_chart, column_chart, percent, stacked_chart
from etl.quality.data_docs import marker, table_status
from etl.registry import datasets, job_names
from etl.settings import Settings

TOP_PRODUCTS_SHOWN = 10
QUARANTINE_REASONS_SHOWN = 15
WIDE = 1160  # pixel width of the charts that span the page

TOTALS_SQL = """
SELECT
    sum(d.total_orders) AS orders,
    sum(d.total_revenue) AS revenue,
    round(sum(d.total_revenue) / sum(d.total_orders), 2) AS avg_order_value,
    min(d.order_date) AS first_day,
    max(d.order_date) AS last_day
FROM gold.daily_sales AS d
"""

QUARANTINE_REASONS_SQL = """
SELECT '{dataset}' AS dataset, reason, count(*) AS row_count
FROM quarantine.{dataset}
CROSS JOIN UNNEST(reasons) AS r (reason)
GROUP BY reason
"""

QUARANTINE_TOTALS_SQL = """
SELECT '{dataset}' AS dataset, count(*) AS row_count, count_if(retryable) AS retryable
FROM quarantine.{dataset}
"""

RUN_SQL = """
WITH chosen AS ({choose})
SELECT
    r.run_id,
    r.batch_id,
    r.started_at,
    r.job,
    r.rows_read + r.retried AS rows_read,
    r.inserted + r.updated AS written,
    r.deleted,
    r.rejected,
    r.duplicates,
    r.seconds
FROM audit.runs AS r
JOIN chosen AS c ON c.run_id = r.run_id
"""
LATEST_RUN = "SELECT run_id FROM audit.runs ORDER BY started_at DESC, run_id DESC LIMIT 1"
# The latest run that wrote any row. A rerun with no new file writes none (its silver jobs may
# still read the quarantined rows that wait for a parent, and reject them again).
LAST_ACTIVE_RUN = """
SELECT run_id FROM audit.runs
GROUP BY run_id
HAVING sum(inserted + updated + deleted) > 0
ORDER BY max(started_at) DESC, run_id DESC
LIMIT 1
"""

DQ_RESULTS_SQL = """
WITH latest AS (
    SELECT
        table_name,
        success,
        severity,
        validated_at,
        max(validated_at) OVER (PARTITION BY table_name) AS newest
    FROM audit.dq_results
)
SELECT
    table_name,
    count(*) AS expectations,
    count_if(NOT success AND severity <> 'warn') AS errors,
    count_if(NOT success AND severity = 'warn') AS warnings,
    max(validated_at) AS validated_at
FROM latest
WHERE validated_at = newest
GROUP BY table_name
ORDER BY table_name
"""


@dataclass(frozen=True)
class Quality:
    reasons: QueryResult | None  # dataset, reason, row_count
    totals: QueryResult | None  # dataset, row_count, retryable
    last_run: QueryResult | None  # the latest run's jobs
    expectations: QueryResult | None  # from audit.dq_results, when it exists
    active_run: QueryResult | None = None  # the latest run that wrote rows, if not the latest


@dataclass(frozen=True)
class Dashboard:
    lakehouse: str
    generated_at: datetime
    totals: QueryResult
    repeat: QueryResult
    daily: QueryResult
    top_products: QueryResult
    departments: QueryResult
    segments: QueryResult
    baskets: QueryResult
    quality: Quality
    currency: str = ""  # the unit of money amounts; "" when the data names none


def _union(template: str, datasets: Sequence[str]) -> str:
    return "\nUNION ALL\n".join(template.format(dataset=d) for d in datasets)


def collect_quality(settings: Settings) -> Quality:
    found = [d for d in datasets() if table_exists(settings, f"quarantine.{d}")]
    reasons = totals = last_run = expectations = None
    if found:
        reasons = run_query(
            f"SELECT * FROM ({_union(QUARANTINE_REASONS_SQL, found)}) AS q "
            "ORDER BY row_count DESC, dataset, reason",
            settings,
        )
        totals = run_query(_union(QUARANTINE_TOTALS_SQL, found), settings)
    active_run = None
    if table_exists(settings, "audit.runs"):
        last_run = run_query(RUN_SQL.format(choose=LATEST_RUN), settings)
        active_run = run_query(RUN_SQL.format(choose=LAST_ACTIVE_RUN), settings)
        if active_run.column("run_id")[:1] == last_run.column("run_id")[:1]:
            active_run = None
    if table_exists(settings, "audit.dq_results"):
        expectations = run_query(DQ_RESULTS_SQL, settings)
    return Quality(
        reasons=reasons,
        totals=totals,
        last_run=last_run,
        expectations=expectations,
        active_run=active_run,
    )


def collect(settings: Settings, generated_at: datetime, currency: str = "") -> Dashboard:
    """Every figure of the dashboard, from gold (and silver, quarantine, audit)."""

    def named(name: str) -> QueryResult:
        return run_query(named_query(name).sql, settings)

    return Dashboard(
        lakehouse=settings.lakehouse_dir,
        generated_at=generated_at,
        totals=run_query(TOTALS_SQL, settings),
        repeat=named("repeat_purchase_rate"),
        daily=named("daily_revenue_moving_average"),
        top_products=named("top_products_by_units"),
        departments=named("department_daily_share"),
        segments=named("customer_segments"),
        baskets=named("basket_size_distribution"),
        quality=collect_quality(settings),
        currency=currency,
    )


# ------------------------------------------------------------------ rendering

# Business words for the columns the page shows.
LABELS = {
    "segment": "Segment",
    "customers": "Customers",
    "share_of_customers": "Share of customers",
    "orders": "Orders",
    "total_spend": "Total spend",
    "avg_order_value": "Average order value",
    "dataset": "Data set",
    "row_count": "Rows quarantined",
    "retryable": "Waiting for their order or product",
    "job": "Job",
    "rows_read": "Read",
    "written": "Written",
    "rejected": "Rejected",
    "duplicates": "Duplicates",
    "seconds": "Seconds",
    "table_name": "Table",
    "status": "Status",
    "expectations": "Expectations",
    "errors": "Errors failed",
    "warnings": "Warnings",
    "validated_at": "Validated at (UTC)",
}
MONEY_COLUMNS = frozenset({"total_spend", "avg_order_value"})


def _f(value: Any) -> float:
    return float(value) if value is not None else 0.0


def money(value: Any) -> str:
    return f"{_f(value):,.2f}"


def count(value: Any) -> str:
    return f"{int(_f(value)):,}"


def seconds(value: Any) -> str:
    """As the run summary prints them: one decimal."""
    return f"{_f(value):.1f}"


def day_label(value: Any) -> str:
    return value.strftime("%m-%d") if isinstance(value, date) else str(value)


def business(value: Any) -> str:
    """A code as words: `big_spender` → Big spender, `order_items` → Order items."""
    return str(value).replace("_", " ").capitalize()


def unit(currency: str) -> str:
    """What money amounts are in: the currency named with --currency, else the source's."""
    return currency or "source currency"


def with_unit(name: str, currency: str) -> str:
    return f"{name} ({unit(currency)})"


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def html_table(
    result: QueryResult,
    columns: Sequence[str] | None = None,
    formats: dict[str, Callable[[Any], str]] | None = None,
    headers: dict[str, str] | None = None,
    raw: frozenset[str] = frozenset(),
) -> str:
    """A table with business headers (`LABELS`, overridden by `headers`); the cells of the
    `raw` columns are HTML already."""
    columns = list(columns or result.columns)
    formats = formats or {}
    names = {**LABELS, **(headers or {})}
    left = ' class="left"'
    head = "".join(
        f"<th{left if c in raw else ''}>{escape(names.get(c, business(c)))}</th>" for c in columns
    )

    def td(column: str, value: Any) -> str:
        text = formats.get(column, cell)(value)
        if column in raw:
            return f"<td{left}>{text}</td>"
        return f"<td>{escape(text)}</td>"

    body = "".join(
        "<tr>" + "".join(td(c, record[c]) for c in columns) + "</tr>" for record in result.records()
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def empty(message: str) -> str:
    """What a card shows instead of a chart when there is nothing to draw."""
    return f'<p class="empty">{escape(message)}</p>'


def card(anchor: str, title: str, note: str, content: str, source: str, wide: bool = False) -> str:
    classes = "card wide" if wide else "card"
    return (
        f'<section class="{classes}" id="{anchor}"><h2>{escape(title)}</h2>'
        f'<p class="note">{escape(note)}</p>{content}'
        f'<p class="source">Source: {escape(source)}</p></section>'
    )


def kpi_tiles(board: Dashboard) -> str:
    totals = board.totals.records()[0]
    repeat = board.repeat.records()[0] if board.repeat.rows else {}
    quarantined = (
        sum(int(r["row_count"]) for r in board.quality.totals.records())
        if board.quality.totals
        else 0
    )
    tiles = [
        (with_unit("Revenue", board.currency), money(totals["revenue"])),
        ("Orders", count(totals["orders"])),
        (with_unit("Average order value", board.currency), money(totals["avg_order_value"])),
        ("Customers", count(repeat.get("customers"))),
        ("Repeat purchase rate", percent(_f(repeat.get("repeat_purchase_rate")))),
        ("Rows quarantined", count(quarantined)),
    ]
    return (
        '<section class="kpis">'
        + "".join(
            f'<div class="kpi"><span>{escape(name)}</span><strong>{escape(value)}</strong></div>'
            for name, value in tiles
        )
        + "</section>"
    )


def daily_card(board: Dashboard) -> str:
    rows = board.daily.records()
    note = (
        "Revenue per order day (UTC) with its 7-day moving average (the day and the six before "
        "it), and the number of orders on the right axis. Days without orders count as zero."
    )
    source = "gold.daily_sales, query daily_revenue_moving_average"
    if not rows:
        return card(
            "daily-revenue",
            "Daily revenue and orders",
            note,
            empty("No orders yet."),
            source,
            wide=True,
        )
    svg = column_chart(
        [day_label(r["order_date"]) for r in rows],
        Series("Revenue", tuple(_f(r["total_revenue"]) for r in rows), PALETTE[0]),
        [Series("7-day average", tuple(_f(r["revenue_7d_avg"]) for r in rows), PALETTE[1])],
        Series("Orders (right axis)", tuple(_f(r["total_orders"]) for r in rows), PALETTE[2]),
        label="Daily revenue, its 7-day moving average and orders",
        value_text=lambda v: f"{money(v)} {unit(board.currency)}",
        x_title="Order date",
        y_title=with_unit("Revenue", board.currency),
        right_title="Orders",
        width=WIDE,
        height=340,
    )
    return card("daily-revenue", "Daily revenue and orders", note, svg, source, wide=True)


def top_products_card(board: Dashboard) -> str:
    rows = board.top_products.records()[:TOP_PRODUCTS_SHOWN]
    title = f"Top {TOP_PRODUCTS_SHOWN} products by units sold"
    note = "Units sold over every order so far; the department in brackets."
    source = "gold.product_performance, query top_products_by_units"
    if not rows:
        return card("top-products", title, note, empty("No products sold yet."), source)
    svg = bar_chart(
        [f"{r['product_name']} ({r['department']})" for r in rows],
        [_f(r["units_sold"]) for r in rows],
        label=title,
        color=PALETTE[0],
        category_title="Product (department)",
        value_title="Units sold",
        width=560,
        label_width=240,
    )
    return card("top-products", title, note, svg, source)


def department_card(board: Dashboard) -> str:
    rows = board.departments.records()
    title = "Department share of units per day"
    note = "How each day's units sold split across departments; order lines dated by their order."
    source = "silver order lines, orders and products, query department_daily_share"
    if not rows:
        return card("department-share", title, note, empty("No order lines yet."), source)
    days = sorted({r["order_date"] for r in rows})
    departments = sorted({str(r["department"]) for r in rows})
    units = {(r["order_date"], str(r["department"])): _f(r["units_sold"]) for r in rows}
    series = [
        Series(name, tuple(units.get((d, name), 0.0) for d in days), PALETTE[i % len(PALETTE)])
        for i, name in enumerate(departments)
    ]
    svg = stacked_chart(
        [day_label(d) for d in days],
        series,
        label=title,
        x_title="Order date",
        y_title="Share of units sold",
        width=560,
    )
    return card("department-share", title, note, svg, source)


def segments_card(board: Dashboard) -> str:
    rows = board.segments.records()
    amount = unit(board.currency)
    note = (
        "Champion: 3 or more orders · Loyal: 2 orders · Big spender: one order of 400 "
        f"{amount} or more · New: one smaller order. Bars are customers."
    )
    source = "gold.customer_insights, query customer_segments"
    if not rows:
        return card(
            "customer-segments", "Customer segments", note, empty("No customers yet."), source
        )
    svg = bar_chart(
        [business(r["segment"]) for r in rows],
        [_f(r["customers"]) for r in rows],
        label="Customers per segment",
        color=PALETTE[4],
        category_title="Segment",
        value_title="Customers",
        width=560,
        label_width=110,
    )
    table = html_table(
        board.segments,
        ["segment", "customers", "share_of_customers", "total_spend", "avg_order_value"],
        formats={"segment": business, "share_of_customers": lambda v: percent(_f(v))},
        headers={c: with_unit(LABELS[c], board.currency) for c in MONEY_COLUMNS},
    )
    return card("customer-segments", "Customer segments", note, svg + table, source)


def baskets_card(board: Dashboard) -> str:
    rows = board.baskets.records()
    note = "How many orders have each number of order lines."
    source = "silver orders and order lines, query basket_size_distribution"
    if not rows:
        return card("basket-sizes", "Basket sizes", note, empty("No orders yet."), source)
    svg = column_chart(
        [str(r["basket_size"]) for r in rows],
        Series("Orders", tuple(_f(r["orders"]) for r in rows), PALETTE[5]),
        label="Orders per basket size",
        x_title="Order lines per order",
        y_title="Orders",
        width=560,
        height=260,
    )
    return card("basket-sizes", "Basket sizes", note, svg, source)


def job_order(job: Any) -> tuple[int, str]:
    """Jobs in pipeline order, as the run summary lists them."""
    name = str(job)
    return (job_names().index(name) if name in job_names() else len(job_names()), name)


def run_table(run: QueryResult, heading: str) -> str:
    first = run.records()[0]
    ordered = QueryResult(run.columns, sorted(run.rows, key=lambda r: job_order(r[3])))
    written = sum(int(r["written"]) + int(r["deleted"]) for r in run.records())
    return (
        f'<div class="run"><h3>{escape(heading)}</h3>'
        f'<p class="note">run {escape(str(first["run_id"]))} · batch '
        f"{escape(str(first['batch_id']))} · started {escape(cell(first['started_at']))} UTC · "
        f"{count(written)} rows written</p>"
        + html_table(
            ordered,
            ["job", "rows_read", "written", "rejected", "duplicates", "seconds"],
            formats={"seconds": seconds},
        )
        + "</div>"
    )


def runs_part(quality: Quality) -> str:
    """The latest run and, when that one wrote nothing, the last run that wrote rows."""
    if quality.last_run is None or not quality.last_run.rows:
        return "<h3>Runs</h3>" + empty("No runs recorded in _audit/runs yet.")
    if quality.active_run is None or not quality.active_run.rows:
        wrote = any(int(r["written"]) + int(r["deleted"]) for r in quality.last_run.records())
        heading = "Latest run (also the last that wrote rows)" if wrote else "Latest run"
        return f'<div class="runs">{run_table(quality.last_run, heading)}</div>'
    return (
        '<div class="runs">'
        + run_table(quality.last_run, "Latest run")
        + run_table(quality.active_run, "Last run that wrote rows")
        + "</div>"
    )


def quarantine_part(quality: Quality) -> str:
    parts: list[str] = ["<h3>Rows quarantined by reason</h3>"]
    if quality.reasons is None or quality.totals is None:
        return "".join([*parts, empty("No quarantine tables yet.")])
    reasons = quality.reasons.records()[:QUARANTINE_REASONS_SHOWN]
    if reasons:
        parts.append(
            bar_chart(
                [f"{business(r['dataset'])}: {r['reason']}" for r in reasons],
                [_f(r["row_count"]) for r in reasons],
                label="Rows quarantined by reason",
                color=PALETTE[3],
                category_title="Data set: reason code",
                value_title="Rows (a row with two reasons counts under both)",
                width=900,
                label_width=340,
            )
        )
    else:
        parts.append(empty("No rows were quarantined."))
    parts.append(
        html_table(
            quality.totals,
            formats={"dataset": business, "row_count": count, "retryable": count},
        )
    )
    return "".join(parts)


def expectations_part(expectations: QueryResult) -> str:
    statuses = {
        str(r["table_name"]): marker(table_status(int(r["errors"]), int(r["warnings"])))
        for r in expectations.records()
    }
    with_status = QueryResult(
        (*expectations.columns, "status"),
        [(*row, statuses[str(row[0])]) for row in expectations.rows],
    )
    columns = ["table_name", "status", "expectations", "errors", "warnings", "validated_at"]
    return (
        "<h3>Great Expectations, latest validation per table</h3>"
        '<p class="note">A failed error expectation fails its table and job; a failed '
        "warning expectation is reported and the table passes.</p>"
        + html_table(with_status, columns, raw=frozenset({"status"}))
    )


def quality_card(quality: Quality) -> str:
    parts = [quarantine_part(quality), runs_part(quality)]
    if quality.expectations is not None:
        parts.append(expectations_part(quality.expectations))
    note = "Rows rejected by the silver rules, the pipeline's runs and the table validations."
    source = "quarantine.<data set> (reasons), audit.runs and audit.dq_results"
    return card("data-quality", "Data quality", note, "".join(parts), source, wide=True)


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f8fafc; color: #0f172a; }
header { padding: 20px 32px 8px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p, .note { color: #64748b; font-size: 13px; margin: 2px 0 10px; }
.source { color: #94a3b8; font-size: 11px; margin: 8px 0 0; }
.empty { color: #64748b; font-size: 13px; margin: 10px 0; padding: 14px;
         border: 1px dashed #cbd5e1; border-radius: 6px; text-align: center; }
.kpis { display: grid; grid-template-columns: repeat(6, 1fr); gap: 12px; padding: 8px 32px; }
.kpi { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; }
.kpi span { display: block; font-size: 12px; color: #64748b; }
.kpi strong { font-size: 20px; }
main { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px;
       padding: 12px 32px 32px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 14px 18px; }
.card.wide { grid-column: 1 / -1; }
.card h2 { font-size: 16px; margin: 0; }
.scroll { overflow-x: auto; }
.card h3 { font-size: 14px; margin: 14px 0 4px; }
.runs { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 8px 32px; }
table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e2e8f0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th.left, td.left { text-align: left; }
.dq svg { vertical-align: -2px; margin-right: 4px; }
"""


def render(board: Dashboard) -> str:
    """The whole page; no external scripts, styles, fonts or images."""
    totals = board.totals.records()[0]
    span = (
        f"Orders from {totals['first_day']} to {totals['last_day']}"
        if totals["first_day"] is not None
        else "No orders yet"
    )
    amounts = (
        f"amounts in {board.currency}"
        if board.currency
        else "amounts in the source files' currency, which they do not name "
        "(name it with --currency)"
    )
    cards = [
        daily_card(board),
        top_products_card(board),
        department_card(board),
        segments_card(board),
        baskets_card(board),
        quality_card(board.quality),
    ]
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Lakehouse dashboard</title><style>{STYLE}</style></head><body>"
        "<header><h1>Lakehouse dashboard</h1>"
        f"<p>{escape(span)} · {escape(amounts)} · lakehouse {escape(board.lakehouse)} · "
        f"generated {escape(board.generated_at.strftime('%Y-%m-%d %H:%M:%S %Z').strip())}</p>"
        f"</header>{kpi_tiles(board)}<main>{''.join(cards)}</main></body></html>\n"
    )
