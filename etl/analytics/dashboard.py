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
from etl.registry import datasets
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

LAST_RUN_SQL = """
WITH last_run AS (
    SELECT run_id FROM audit.runs ORDER BY started_at DESC, run_id DESC LIMIT 1
)
SELECT
    r.run_id,
    r.batch_id,
    r.started_at,
    r.job,
    r.rows_read + r.retried AS rows_read,
    r.inserted + r.updated AS written,
    r.rejected,
    r.duplicates,
    r.seconds
FROM audit.runs AS r
JOIN last_run AS l ON l.run_id = r.run_id
ORDER BY
    CASE split_part(r.job, '.', 1) WHEN 'bronze' THEN 1 WHEN 'silver' THEN 2 ELSE 3 END,
    r.job
"""

DQ_RESULTS_SQL = """
WITH latest AS (
    SELECT
        table_name,
        success,
        validated_at,
        max(validated_at) OVER (PARTITION BY table_name) AS newest
    FROM audit.dq_results
)
SELECT
    table_name,
    count(*) AS expectations,
    count_if(NOT success) AS failed,
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
    last_run: QueryResult | None
    expectations: QueryResult | None  # from audit.dq_results, when it exists


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
    if table_exists(settings, "audit.runs"):
        last_run = run_query(LAST_RUN_SQL, settings)
    if table_exists(settings, "audit.dq_results"):
        expectations = run_query(DQ_RESULTS_SQL, settings)
    return Quality(reasons=reasons, totals=totals, last_run=last_run, expectations=expectations)


def collect(settings: Settings, generated_at: datetime) -> Dashboard:
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
    )


# ------------------------------------------------------------------ rendering


def _f(value: Any) -> float:
    return float(value) if value is not None else 0.0


def money(value: Any) -> str:
    return f"{_f(value):,.2f}"


def count(value: Any) -> str:
    return f"{int(_f(value)):,}"


def day_label(value: Any) -> str:
    return value.strftime("%m-%d") if isinstance(value, date) else str(value)


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
) -> str:
    columns = list(columns or result.columns)
    formats = formats or {}
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(formats.get(c, cell)(record[c]))}</td>" for c in columns)
        + "</tr>"
        for record in result.records()
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def card(anchor: str, title: str, note: str, content: str, wide: bool = False) -> str:
    classes = "card wide" if wide else "card"
    return (
        f'<section class="{classes}" id="{anchor}"><h2>{escape(title)}</h2>'
        f'<p class="note">{escape(note)}</p>{content}</section>'
    )


def kpi_tiles(board: Dashboard) -> str:
    totals = board.totals.records()[0]
    repeat = board.repeat.records()[0]
    quarantined = (
        sum(int(r["row_count"]) for r in board.quality.totals.records())
        if board.quality.totals
        else 0
    )
    tiles = [
        ("Revenue", money(totals["revenue"])),
        ("Orders", count(totals["orders"])),
        ("Average order value", money(totals["avg_order_value"])),
        ("Customers", count(repeat["customers"])),
        ("Repeat purchase rate", percent(_f(repeat["repeat_purchase_rate"]))),
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
    svg = column_chart(
        [day_label(r["order_date"]) for r in rows],
        Series("revenue", tuple(_f(r["total_revenue"]) for r in rows), PALETTE[0]),
        [Series("7-day average", tuple(_f(r["revenue_7d_avg"]) for r in rows), PALETTE[1])],
        Series("orders (right axis)", tuple(_f(r["total_orders"]) for r in rows), PALETTE[2]),
        label="Daily revenue, its 7-day moving average and orders",
        value_text=money,
        width=WIDE,
        height=320,
    )
    note = "gold.daily_sales via daily_revenue_moving_average.sql; days without orders count 0."
    return card("daily-revenue", "Daily revenue and orders", note, svg, wide=True)


def top_products_card(board: Dashboard) -> str:
    rows = board.top_products.records()[:TOP_PRODUCTS_SHOWN]
    svg = bar_chart(
        [f"{r['product_name']} ({r['department']})" for r in rows],
        [_f(r["units_sold"]) for r in rows],
        label=f"Top {TOP_PRODUCTS_SHOWN} products by units sold",
        color=PALETTE[0],
        width=560,
        label_width=240,
    )
    note = "gold.product_performance via top_products_by_units.sql."
    return card("top-products", f"Top {TOP_PRODUCTS_SHOWN} products by units", note, svg)


def department_card(board: Dashboard) -> str:
    rows = board.departments.records()
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
        label="Department share of units per day",
        width=560,
    )
    note = "silver order lines by their order's date, via department_daily_share.sql."
    return card("department-share", "Department share of units per day", note, svg)


def segments_card(board: Dashboard) -> str:
    rows = board.segments.records()
    svg = bar_chart(
        [str(r["segment"]) for r in rows],
        [_f(r["customers"]) for r in rows],
        label="Customers per segment",
        color=PALETTE[4],
        width=560,
        label_width=110,
    )
    table = html_table(
        board.segments,
        ["segment", "customers", "share_of_customers", "total_spend", "avg_order_value"],
        formats={"share_of_customers": lambda v: percent(_f(v))},
    )
    note = "gold.customer_insights via customer_segments.sql; bars are customers."
    return card("customer-segments", "Customer segments", note, svg + table)


def baskets_card(board: Dashboard) -> str:
    rows = board.baskets.records()
    svg = column_chart(
        [str(r["basket_size"]) for r in rows],
        Series("orders", tuple(_f(r["orders"]) for r in rows), PALETTE[5]),
        label="Orders per basket size",
        width=560,
        height=240,
    )
    note = "Order lines per order, via basket_size_distribution.sql."
    return card("basket-sizes", "Basket sizes", note, svg)


def quality_card(quality: Quality) -> str:
    parts: list[str] = []
    if quality.reasons is not None and quality.totals is not None:
        reasons = quality.reasons.records()[:QUARANTINE_REASONS_SHOWN]
        parts.append("<h3>Rows quarantined by reason</h3>")
        parts.append(
            bar_chart(
                [f"{r['dataset']}: {r['reason']}" for r in reasons],
                [_f(r["row_count"]) for r in reasons],
                label="Rows quarantined by reason",
                color=PALETTE[3],
                width=900,
                label_width=340,
            )
        )
        parts.append(html_table(quality.totals))
    else:
        parts.append("<p>No quarantine tables yet.</p>")
    if quality.last_run is not None and quality.last_run.rows:
        first = quality.last_run.records()[0]
        parts.append(
            f"<h3>Last run {escape(str(first['run_id']))}</h3>"
            f'<p class="note">batch {escape(str(first["batch_id"]))}, started '
            f"{escape(cell(first['started_at']))} UTC</p>"
        )
        parts.append(
            html_table(
                quality.last_run,
                ["job", "rows_read", "written", "rejected", "duplicates", "seconds"],
            )
        )
    else:
        parts.append("<p>No runs recorded in _audit/runs yet.</p>")
    if quality.expectations is not None:
        parts.append("<h3>Great Expectations, latest validation per table</h3>")
        parts.append(html_table(quality.expectations))
    note = "quarantine/<dataset> (reasons array), _audit/runs and _audit/dq_results."
    return card("data-quality", "Data quality", note, "".join(parts), wide=True)


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f8fafc; color: #0f172a; }
header { padding: 20px 32px 8px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p, .note { color: #64748b; font-size: 13px; margin: 2px 0 10px; }
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
table { border-collapse: collapse; font-size: 12px; margin-top: 8px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e2e8f0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""


def render(board: Dashboard) -> str:
    """The whole page; no external scripts, styles, fonts or images."""
    totals = board.totals.records()[0]
    span = f"{totals['first_day']} to {totals['last_day']}"
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
        f"<p>Orders from {escape(span)} · lakehouse {escape(board.lakehouse)} · generated "
        f"{escape(board.generated_at.strftime('%Y-%m-%d %H:%M:%S %Z').strip())}</p></header>"
        f"{kpi_tiles(board)}<main>{''.join(cards)}</main></body></html>\n"
    )
