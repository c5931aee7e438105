"""Great Expectations validation: results table, offline Data Docs, severities, exit codes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.quality import rules_doc, validate
from etl.quality.data_docs import SITE, STYLE, render_index, strip_external
from etl.quality.expectations import not_null, unique
from etl.registry import datasets, gold_tables
from tests.conftest import ContextMaker
from tests.helpers import stored_table
from tests.shared_lakehouse import BuiltLakehouse

TABLES = {f"silver.{d}" for d in datasets()} | {f"gold.{t}" for t in gold_tables()}


def test_rules_doc_matches_the_contracts() -> None:
    assert rules_doc.main(["--check"]) == 0


def test_every_table_is_validated_and_recorded(sample_lakehouse_files: BuiltLakehouse) -> None:
    ctx = sample_lakehouse_files
    stored = stored_table(ctx.path("_audit", "dq_results")).rows
    results = [r for r in stored if r["run_id"] == ctx.run_id]
    assert {r["table_name"] for r in results} == TABLES
    failed = {
        (r["table_name"], r["severity"], r["description"].split(":")[0], r["observed_value"])
        for r in results
        if not r["success"]
    }
    # The sample products, like the real ones, reuse department ids across department names.
    assert failed == {("silver.products", "warn", "department_id.ambiguous", "1000")}
    unique = [
        (r["success"], r["observed_value"])
        for r in results
        if (r["table_name"], r["description"]) == ("gold.daily_sales", "order_date is unique")
    ]
    # a small table is checked in memory, where each rule's unexpected count comes with it
    assert unique == [(True, "0")]


@pytest.mark.parametrize("engines", [("spark", "in memory"), ("in memory", "spark")])
def test_a_later_run_may_check_a_table_on_the_other_engine(
    make_context: ContextMaker,
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engines: tuple[str, str],
) -> None:
    """Tables checked on Spark in one run (too many rows for memory) and one of them in memory
    in the next (an incremental batch after a large load), or the reverse, each run reading the
    Great Expectations project afresh from its files, as a new process does."""
    ctx = make_context(tmp_path)
    df = spark.createDataFrame([(1,), (2,)], "order_id int")
    checks = [not_null("order_id"), unique("order_id")]
    for engine, tables in zip(
        engines, (["silver.orders", "silver.order_items"], ["silver.orders"]), strict=True
    ):
        validate._context.cache_clear()  # a new run: the project read again from its files
        monkeypatch.setattr(validate, "IN_MEMORY_ROWS", 500_000 if engine == "in memory" else 1)
        for table in tables:
            outcomes = validate.run_checks(ctx, table, df, checks)
            assert [(o.check.description, o.success) for o in outcomes] == [
                ("order_id is not null", True),
                ("order_id is unique", True),
            ], (engine, table)
    validate._context.cache_clear()


def test_data_docs_open_offline_and_list_every_table(
    sample_lakehouse_files: BuiltLakehouse,
) -> None:
    site = Path(sample_lakehouse_files.settings.lakehouse_dir).joinpath(*SITE)
    index = (site / "index.html").read_text()
    for table in TABLES:
        assert f"<td>{table}</td>" in index
    linked = re.findall(r'href="([^"]+)"', index)
    assert len(linked) == 2 * len(TABLES) and all((site / href).is_file() for href in linked)
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"(src=\"|<link[^>]*href=\"|url\(')https?://", text), page


def test_strip_external_removes_every_fetch_and_keeps_content() -> None:
    page = (
        '<html><head><link href="https://cdn.example/x.css" rel="stylesheet">'
        '<script src="https://cdn.example/x.js"></script><style>a{background:url('
        "'https://cdn.example/logo.png')}</style></head><body><img src=\"https://x/l.png\">"
        "<p>42 rows</p><a href='https://docs.example'>docs</a></body></html>"
    )
    assert strip_external(page) == (
        "<html><head><style>a{background:none}</style>"
        + STYLE
        + "</head><body><p>42 rows</p><a href='https://docs.example'>docs</a></body></html>"
    )


def test_index_reports_status_per_table() -> None:
    row = {"validated_at": "t", "run_id": "r1", "observed_value": "3"}
    results = [
        {**row, "table_name": "silver.orders", "success": True, "severity": "error"},
        {
            **row,
            "table_name": "silver.orders",
            "success": False,
            "severity": "warn",
            "description": "freshness",
        },
        {
            **row,
            "table_name": "gold.daily_sales",
            "success": False,
            "severity": "error",
            "description": "order_date is unique",
        },
    ]
    page = render_index(results, {"silver.orders": {"suite": "expectations/silver/orders.html"}})
    status = r'<td><span class="dq {}" data-status="{}"[^>]*><svg[^>]*>.*?</svg>{}</span></td>'
    assert re.search(
        "<td>gold.daily_sales</td>" + status.format("fail", "fail", r"failed, 1 error\(s\)"), page
    )
    assert re.search(
        "<td>silver.orders</td>" + status.format("warn", "warn", r"passed, 1 warning\(s\)"), page
    )
    assert '<a href="expectations/silver/orders.html">suite</a>' in page
    assert "<td>order_date is unique</td><td>3</td>" in page


def test_data_docs_render_in_headless_chromium(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package: chromium)")
    index = Path(sample_lakehouse_files.settings.lakehouse_dir).joinpath(*SITE) / "index.html"
    shot = tmp_path / "data_docs.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1400,900",
            f"--screenshot={shot}",
            index.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a blank page of this size compresses far smaller
