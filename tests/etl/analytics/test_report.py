"""`python -m etl.report`: one self-contained HTML file with every chart, filled with data."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.analytics.dashboard import Quality, collect, collect_quality, render
from etl.analytics.engine import table_exists
from etl.report import default_output, main
from etl.runner import JobContext
from etl.settings import Settings

CHARTS = (
    "daily-revenue",
    "top-products",
    "department-share",
    "customer-segments",
    "basket-sizes",
    "data-quality",
)
SCREEN = (1280, 2400)  # the whole page of the sample lakehouse


@pytest.fixture(scope="module")
def dashboard(sample_lakehouse: JobContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("report") / "dashboard.html"
    assert (
        main(["--lakehouse-dir", sample_lakehouse.settings.lakehouse_dir, "--output", str(output)])
        == 0
    )
    return output


def sections(html: str) -> dict[str, str]:
    found = re.findall(r'<section class="card[^"]*" id="([^"]+)">(.*?)</section>', html, re.S)
    return dict(found)


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
    sample_lakehouse: JobContext, dashboard: Path
) -> None:
    html = dashboard.read_text(encoding="utf-8")
    revenue = (
        sample_lakehouse.store.read(sample_lakehouse.path("gold", "daily_sales"))
        .agg({"total_revenue": "sum"})
        .collect()[0][0]
    )
    assert f"{revenue:,.2f}" in html
    quality = sections(html)["data-quality"]
    for dataset in ("orders", "order_items"):
        assert f"{dataset}: " in quality  # a reason bar of each dataset with rejected rows
    assert "Last run " in quality
    assert ("Great Expectations" in quality) == table_exists(
        sample_lakehouse.settings, "audit.dq_results"
    )


def test_the_default_output_is_under_the_lakehouse(sample_lakehouse: JobContext) -> None:
    settings = sample_lakehouse.settings
    assert default_output(settings) == f"{settings.lakehouse_dir}/reports/dashboard.html"
    assert main(["--lakehouse-dir", settings.lakehouse_dir]) == 0
    assert Path(default_output(settings)).read_text(encoding="utf-8").endswith("</html>\n")


def test_missing_quarantine_and_audit_tables_are_shown_as_such(
    sample_lakehouse: JobContext, tmp_path: Path
) -> None:
    assert collect_quality(Settings(lakehouse_dir=str(tmp_path))) == Quality(None, None, None, None)
    board = collect(sample_lakehouse.settings, datetime(2025, 5, 1, tzinfo=UTC))
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


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.integration
@pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_headless_chromium_renders_a_screenshot(dashboard: Path, tmp_path: Path) -> None:
    png = tmp_path / "dashboard.png"
    subprocess.run(
        [
            str(chromium()),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size={SCREEN[0]},{SCREEN[1]}",
            f"--screenshot={png}",
            dashboard.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == SCREEN
    assert len(data) > 50_000  # charts and text, not a blank page
