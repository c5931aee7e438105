"""Data Docs offline: a pass / fail / warning marker for every expectation on every page, a
"Failed only" filter that works without jQuery, and one status per table on the index, the
result pages, `_audit/dq_results` and the dashboard."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from etl.quality.data_docs import SITE, latest_page, mark_results
from etl.registry import datasets, gold_tables
from etl.report import main as report
from tests.chromium import dump_dom, needs_chromium, pixels_of, screenshot
from tests.helpers import stored_table
from tests.shared_lakehouse import BuiltLakehouse

TABLES = sorted({f"silver.{d}" for d in datasets()} | {f"gold.{t}" for t in gold_tables()})
# The sample products reuse department ids across names: one failed `warn` expectation.
EXPECTED = {t: ("ok", "passed") for t in TABLES} | {
    "silver.products": ("warn", "passed, 1 warning(s)")
}
MARKER = re.compile(
    r'<span class="dq (?P<level>ok|warn|fail)"[^>]*><svg[^>]*>.*?</svg>(?P<text>[^<]*)</span>',
    re.S,
)
GREEN, AMBER, RED = "#047857", "#b45309", "#b91c1c"


def site_of(ctx: BuiltLakehouse) -> Path:
    return Path(ctx.settings.lakehouse_dir).joinpath(*SITE)


def result_page(ctx: BuiltLakehouse, table: str) -> Path:
    site = site_of(ctx)
    page = latest_page(site, "validations", table)
    assert page is not None, table
    return site / page


def marker_after(html: str, anchor: str) -> tuple[str, str]:
    """The first marker after `anchor` in the page: (level, words)."""
    start = html.index(anchor)
    match = MARKER.search(html, start)
    assert match is not None and match.start() - start < 200, anchor
    return match["level"], match["text"].strip()


def test_recorded_results_are_the_expected_ones(sample_lakehouse_files: BuiltLakehouse) -> None:
    ctx = sample_lakehouse_files
    results = stored_table(ctx.path("_audit", "dq_results")).rows
    tables = {r["table_name"] for r in results}
    newest = {t: max(r["validated_at"] for r in results if r["table_name"] == t) for t in tables}
    latest = [r for r in results if r["validated_at"] == newest[r["table_name"]]]
    failed = Counter((r["table_name"], r["severity"]) for r in latest if not r["success"])
    assert failed == {("silver.products", "warn"): 1}


def test_each_table_has_one_status_everywhere(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path
) -> None:
    ctx = sample_lakehouse_files
    index = (site_of(ctx) / "index.html").read_text(encoding="utf-8")
    dashboard = tmp_path / "dashboard.html"
    assert report(["--lakehouse-dir", ctx.settings.lakehouse_dir, "--output", str(dashboard)]) == 0
    board = dashboard.read_text(encoding="utf-8")
    validations = board[board.index("Great Expectations, latest validation per table") :]

    for table in TABLES:
        page = result_page(ctx, table).read_text(encoding="utf-8")
        seen = {
            "index": marker_after(index, f"<td>{table}</td>"),
            "result page": marker_after(page, "Status:</span>"),
            "dashboard": marker_after(validations, f"<td>{table}</td>"),
        }
        assert seen == dict.fromkeys(seen, EXPECTED[table]), table
    products = result_page(ctx, "silver.products").read_text(encoding="utf-8")
    assert not re.search(r"\bFailed\b(?! Only)", products)  # GE's overall "Failed" is gone


def test_every_expectation_on_every_result_page_has_a_marker(
    sample_lakehouse_files: BuiltLakehouse,
) -> None:
    pages = list(site_of(sample_lakehouse_files).glob("validations/**/*.html"))
    assert len(pages) >= len(TABLES)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        evaluated = re.search(
            r'Evaluated Expectations</div></td><td[^>]*><div class="show-scrollbars">(\d+)', html
        )
        assert evaluated is not None, page
        levels = [m["level"] for m in MARKER.finditer(html)]
        assert len(levels) == int(evaluated[1]) + 1, page  # each expectation, and the overall
        assert 'class="fas' not in html and "$(" not in html, page


def test_the_warning_row_is_marked_as_a_warning(sample_lakehouse_files: BuiltLakehouse) -> None:
    html = result_page(sample_lakehouse_files, "silver.products").read_text(encoding="utf-8")
    warning = html.index("department_id.ambiguous:")
    level, words = [(m["level"], m["text"]) for m in MARKER.finditer(html, 0, warning)][-1]
    assert (level, words) == ("warn", "warning")


ROW = (
    '<tr><td class="hide-succeeded-validation-target-child"><span >'
    '<i class="fas fa-check-circle text-success" ></i></span></td><td><span >{0}</span></td></tr>'
)
FAILED_ROW = (
    '<tr><td><span ><i class="fas fa-times text-danger" ></i></span></td>'
    "<td><span >{0}</span></td><td><table><tr><td>3 unexpected</td></tr></table></td></tr>"
)
OVERALL = (
    '<span class="h6" >Status:</span> <i class="fas fa-times text-danger" aria-hidden="true">'
    "</i> Failed"
)
SEVERITIES = {
    "amount is unique": "error",
    "amount is unique per day": "warn",
    "amount below zero": "error",
    "freshness: newest row within 7 days": "warn",
}


@pytest.mark.parametrize(
    ("failed", "overall", "rows"),
    [
        (
            ["amount below zero", "freshness: newest row within 7 days"],
            ("fail", "failed, 1 error(s), 1 warning(s)"),
            ["ok", "fail", "warn"],
        ),
        (
            ["amount is unique per day", "freshness: newest row within 7 days"],
            ("warn", "passed, 2 warning(s)"),
            ["ok", "warn", "warn"],
        ),
        (["amount is unique"], ("fail", "failed, 1 error(s)"), ["ok", "fail"]),
    ],
    ids=["error-and-warning", "warnings-only", "a-description-inside-another"],
)
def test_markers_follow_the_severity_of_each_failed_expectation(
    failed: list[str], overall: tuple[str, str], rows: list[str]
) -> None:
    page = OVERALL + "<table>" + ROW.format("table has rows")
    page += "".join(FAILED_ROW.format(d) for d in failed) + "</table>"

    marked = mark_results(page, SEVERITIES)

    found = [(m["level"], m["text"].strip()) for m in MARKER.finditer(marked)]
    assert found[0] == overall
    assert [level for level, _ in found[1:]] == rows
    assert "fa-" not in marked and "Failed" not in marked
    assert mark_results(marked, SEVERITIES) == marked


@needs_chromium
def test_failed_only_filter_runs_without_jquery(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path
) -> None:
    """The page as GE ships it calls the filter from the radio buttons; here the call is made by
    a script appended to a copy of the page, and the DOM is read back from Chromium."""
    original = result_page(sample_lakehouse_files, "silver.products")
    html = original.read_text(encoding="utf-8")

    def after(calls: str) -> str:
        page = tmp_path / f"{abs(hash(calls))}.html"
        page.write_text(html.replace("</body>", f"<script>{calls}</script></body>"), "utf-8")
        return dump_dom(page, tmp_path / "profile")

    def rows(dom: str) -> list[tuple[str, bool]]:
        """(marker level, hidden) for every table row holding one marker."""
        found = []
        for row in re.findall(r"<tr[^>]*>.*?</tr>", dom, re.S):
            levels = [m["level"] for m in MARKER.finditer(row)]
            if len(levels) == 1:
                found.append((levels[0], "display: none" in row[: row.index(">")]))
        return found

    failed_only = rows(after("hideSucceededValidations();"))
    assert ("warn", False) in failed_only
    assert {hidden for level, hidden in failed_only if level == "ok"} == {True}
    shown_again = rows(after("hideSucceededValidations(); showAllValidations();"))
    assert shown_again and not any(hidden for _, hidden in shown_again)


@needs_chromium
def test_result_page_screenshot_shows_the_markers(
    sample_lakehouse_files: BuiltLakehouse, tmp_path: Path
) -> None:
    page = result_page(sample_lakehouse_files, "silver.products")
    copy = shutil.copy(page, tmp_path / "page.html")  # same page, outside the site
    png = screenshot(Path(copy), tmp_path / "page.png", (1280, 2400))
    assert pixels_of(png, GREEN) > 200  # the "passed" markers
    assert pixels_of(png, AMBER) > 50  # the warning marker and the overall status
    assert pixels_of(png, RED) == 0  # nothing failed with error severity
