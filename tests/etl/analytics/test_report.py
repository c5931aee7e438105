"""`python -m etl.report`: one self-contained HTML file with every chart, filled with data,
labelled for a business reader, and checked in headless Chromium."""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from etl.analytics.dashboard import Quality, collect, collect_quality, render
from etl.analytics.engine import QueryResult, table_exists
from etl.analytics.svg import PALETTE
from etl.report import default_output, main
from etl.settings import Settings
from tests.chromium import needs_chromium, pixels_of, screenshot
from tests.helpers import stored_table
from tests.shared_lakehouse import BuiltLakehouse

CHARTS = (
    "daily-revenue",
    "top-products",
    "department-share",
    "customer-segments",
    "basket-sizes",
    "data-quality",
)
SCREEN = (1280, 2600)  # the whole page of the sample lakehouse


@pytest.fixture(scope="module")
def dashboard(
    sample_lakehouse_files: BuiltLakehouse, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    output = tmp_path_factory.mktemp("report") / "dashboard.html"
    assert (
        main(
            [
                "--lakehouse-dir",
                sample_lakehouse_files.settings.lakehouse_dir,
                "--output",
                str(output),
            ]
        )
        == 0
    )
    return output


def sections(html: str) -> dict[str, str]:
    found = re.findall(r'<section class="card[^"]*" id="([^"]+)">(.*?)</section>', html, re.S)
    return dict(found)


def run_tables(quality: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Each run table of the quality panel: heading -> (its note, job -> seconds cell)."""
    found = {}
    for heading, note, table in re.findall(
        r'<div class="run"><h3>([^<]+)</h3><p class="note">([^<]+)</p>(.*?)</table>', quality, re.S
    ):
        rows = re.findall(
            r"<tr><td>([a-z_.]+)</td>(?:<td>[^<]*</td>){4}<td>([^<]*)</td></tr>", table
        )
        found[heading] = (note, dict(rows))
    return found


def test_the_dashboard_is_self_contained(dashboard: Path) -> None:
    html = dashboard.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"<script|<link|@import|url\(", html, re.I)


def test_every_chart_is_drawn_with_data(dashboard: Path) -> None:
    found = sections(dashboard.read_text(encoding="utf-8"))
    assert set(found) == set(CHARTS)
    for name, content in found.items():
        assert "<svg" in content, name
        marks = re.findall(r"<(rect|circle)[^>]*><title>([^<]+)</title>", content)
        assert marks, f"{name} has no data marks"


def test_the_figures_are_those_of_the_lakehouse(
    sample_lakehouse_files: BuiltLakehouse, dashboard: Path
) -> None:
    html = dashboard.read_text(encoding="utf-8")
    daily = stored_table(sample_lakehouse_files.path("gold", "daily_sales"))
    revenue = sum(row["total_revenue"] for row in daily.rows)
    assert f"{revenue:,.2f}" in html
    quality = sections(html)["data-quality"]
    for dataset in ("Orders", "Order items"):
        assert f"{dataset}: " in quality  # a reason bar of each dataset with rejected rows
    assert "Latest run " in quality
    assert ("Great Expectations" in quality) == table_exists(
        sample_lakehouse_files.settings, "audit.dq_results"
    )


def test_the_default_output_is_under_the_lakehouse(sample_lakehouse_files: BuiltLakehouse) -> None:
    settings = sample_lakehouse_files.settings
    assert default_output(settings) == f"{settings.lakehouse_dir}/reports/dashboard.html"
    assert main(["--lakehouse-dir", settings.lakehouse_dir]) == 0
    assert Path(default_output(settings)).read_text(encoding="utf-8").endswith("</html>\n")


def test_missing_quarantine_and_audit_tables_are_shown_as_such(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path
) -> None:
    assert collect_quality(Settings(lakehouse_dir=str(tmp_path))) == Quality(None, None, None, None)
    board = collect(sample_lakehouse_files.settings, datetime(2025, 5, 1, tzinfo=UTC))
    board = type(board)(**{**board.__dict__, "quality": Quality(None, None, None, None)})
    quality = sections(render(board))["data-quality"]
    assert "No quarantine tables yet." in quality
    assert "No runs recorded" in quality


def test_a_lakehouse_without_gold_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["--lakehouse-dir", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.startswith("error: table gold.daily_sales does not exist yet")
    assert main(["--lakehouse-dir", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith(f"error: no lakehouse at {tmp_path / 'missing'}:")


def test_an_unwritable_output_is_one_line(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "--lakehouse-dir",
        sample_lakehouse_files.settings.lakehouse_dir,
        "--output",
        str(tmp_path),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f"error: cannot write the dashboard to {tmp_path}: Is a directory\n"


def test_amounts_name_their_currency(
    sample_lakehouse_files: BuiltLakehouse, dashboard: Path, tmp_path: Path
) -> None:
    default = dashboard.read_text(encoding="utf-8")
    assert "Revenue (source currency)</span>" in default
    assert "amounts in the source files&#x27; currency, which they do not name" in default
    output = tmp_path / "eur.html"
    lakehouse = sample_lakehouse_files.settings.lakehouse_dir
    assert main(["--lakehouse-dir", lakehouse, "--output", str(output), "--currency", "eur"]) == 0
    html = output.read_text(encoding="utf-8")
    assert "Revenue (EUR)</span>" in html and "Average order value (EUR)</span>" in html
    assert "amounts in EUR" in html
    assert "source currency" not in html
    assert "<th>Total spend (EUR)</th>" in sections(html)["customer-segments"]


@pytest.mark.parametrize("currency", ["dollars", "", "U$D"])
def test_a_currency_that_is_not_one_is_refused(
    currency: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--currency", currency])
    assert stopped.value.code == 2
    assert "is not a currency: give a three-letter code" in capsys.readouterr().err


def test_every_chart_has_axis_titles(dashboard: Path) -> None:
    found = sections(dashboard.read_text(encoding="utf-8"))
    titles = {
        name: re.findall(r'<text [^>]*font-weight="600"[^>]*>([^<]+)</text>', content)
        for name, content in found.items()
    }
    assert titles == {
        "daily-revenue": ["Order date", "Revenue (source currency)", "Orders"],
        "top-products": ["Product (department)", "Units sold"],
        "department-share": ["Order date", "Share of units sold"],
        "customer-segments": ["Segment", "Customers"],
        "basket-sizes": ["Order lines per order", "Orders"],
        "data-quality": [
            "Data set: reason code",
            "Rows (a row with two reasons counts under both)",
        ],
    }


def test_headers_and_subtitles_are_business_words(dashboard: Path) -> None:
    html = dashboard.read_text(encoding="utf-8")
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", html)
    assert len(headers) >= 20
    assert [h for h in headers if "_" in h or not h[:1].isupper()] == []
    notes = re.findall(r'<p class="note">([^<]*)</p>', html)
    assert len(notes) >= len(CHARTS)
    assert [n for n in notes if ".sql" in n or re.search(r"\b[a-z]+_[a-z_]+\b", n)] == []
    assert ">big_spender<" not in html and ">Big spender<" in html


@pytest.mark.parametrize(
    ("field", "card", "sentence"),
    [
        ("daily", "daily-revenue", "No orders yet."),
        ("top_products", "top-products", "No products sold yet."),
        ("departments", "department-share", "No order lines yet."),
        ("segments", "customer-segments", "No customers yet."),
        ("baskets", "basket-sizes", "No orders yet."),
        ("reasons", "data-quality", "No rows were quarantined."),
    ],
)
def test_nothing_to_draw_is_a_sentence_not_an_empty_chart(
    sample_lakehouse_files: BuiltLakehouse, field: str, card: str, sentence: str
) -> None:
    board = collect(sample_lakehouse_files.settings, datetime(2025, 5, 1, tzinfo=UTC))
    if field == "reasons":
        reasons = board.quality.reasons
        assert reasons is not None
        quality = dataclasses.replace(board.quality, reasons=QueryResult(reasons.columns, []))
        board = dataclasses.replace(board, quality=quality)
    else:
        result: QueryResult = getattr(board, field)
        board = dataclasses.replace(board, **{field: QueryResult(result.columns, [])})

    content = sections(render(board))[card]

    assert f'<p class="empty">{sentence}</p>' in content
    assert "no rows" not in content
    if card != "data-quality":
        assert "<svg" not in content


def test_the_last_run_that_wrote_rows_is_shown_beside_the_latest(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path
) -> None:
    """A rerun with no new files records its jobs with nothing written (as `etl.pipeline`
    does); the panel shows it as the latest run and, beside it, the run that did the work."""
    lakehouse = Path(
        shutil.copytree(sample_lakehouse_files.settings.lakehouse_dir, tmp_path / "lh")
    )
    runs_path = str(lakehouse / "_audit" / "runs")
    runs = DeltaTable(runs_path).to_pyarrow_table()
    worked = pc.max(runs["started_at"]).as_py()
    rerun = runs.filter(pc.equal(runs["started_at"], pa.scalar(worked, runs["started_at"].type)))
    for column in ("rows_read", "retried", "inserted", "updated", "rejected", "duplicates"):
        index = rerun.schema.get_field_index(column)
        rerun = rerun.set_column(index, column, pa.array([0] * rerun.num_rows, pa.int64()))
    later = pa.array([worked + timedelta(hours=1)] * rerun.num_rows, runs["started_at"].type)
    rerun = rerun.set_column(rerun.schema.get_field_index("started_at"), "started_at", later)
    ids = pa.array(["rerun0000000"] * rerun.num_rows, pa.string())
    rerun = rerun.set_column(rerun.schema.get_field_index("run_id"), "run_id", ids)
    write_deltalake(runs_path, rerun, mode="append")

    board = collect(Settings(lakehouse_dir=str(lakehouse)), datetime(2025, 5, 1, tzinfo=UTC))
    shown = run_tables(sections(render(board))["data-quality"])

    assert list(shown) == ["Latest run", "Last run that wrote rows"]
    assert shown["Latest run"][0].startswith("run rerun0000000 ·")
    assert shown["Latest run"][0].endswith("· 0 rows written")
    assert shown["Last run that wrote rows"][0].startswith(f"run {sample_lakehouse_files.run_id} ·")


def test_run_seconds_are_those_of_the_audit_table_as_the_summary_prints_them(
    sample_lakehouse_files: BuiltLakehouse, dashboard: Path
) -> None:
    ctx = sample_lakehouse_files
    audit = stored_table(ctx.path("_audit", "runs")).rows
    recorded = {r["job"]: r["seconds"] for r in audit if r["run_id"] == ctx.run_id}
    shown = run_tables(sections(dashboard.read_text(encoding="utf-8"))["data-quality"])

    [(heading, (_, seconds))] = shown.items()
    assert heading == "Latest run (also the last that wrote rows)"
    assert list(seconds) == [
        "bronze.products",
        "bronze.orders",
        "bronze.order_items",
        "silver.products",
        "silver.orders",
        "silver.order_items",
        "gold.daily_sales",
        "gold.product_performance",
        "gold.department_analytics",
        "gold.customer_insights",
    ]  # the run summary's order
    assert seconds == {job: f"{value:.1f}" for job, value in recorded.items()}


@pytest.mark.integration
@needs_chromium
def test_headless_chromium_renders_a_screenshot(dashboard: Path, tmp_path: Path) -> None:
    """Look at it: the PNG is written to the test's temporary folder."""
    png = screenshot(dashboard, tmp_path / "dashboard.png", SCREEN)
    data = png.read_bytes()
    assert struct.unpack(">II", data[16:24]) == SCREEN
    assert len(data) > 50_000  # charts and text, not a blank page
    assert pixels_of(png, PALETTE[0]) > 20_000  # the revenue columns and product bars
    assert pixels_of(png, "#b45309") > 30  # the warning of silver.products, in amber
    assert pixels_of(png, "#b91c1c") == 0  # no table failed
