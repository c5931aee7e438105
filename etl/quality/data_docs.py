"""Make the Great Expectations Data Docs browsable offline, with one summary index page.

GE's pages pull CSS, JavaScript and a logo from CDNs, and its index is filled in by that
JavaScript. Opened offline it would be empty, and opened online it would reach the network.
After every validation the site is rewritten: external references are removed, a small inline
stylesheet is added, and `index.html` becomes a static page listing every table's latest
results (from `_audit/dq_results`) with links to GE's validation and suite pages.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl.runner import JobContext

SITE = ("_dq", "gx", "uncommitted", "data_docs", "local_site")

EXTERNAL_TAG = re.compile(
    r"<(?:script|link)\b[^>]*\b(?:src|href)=\"https?://[^\"]*\"[^>]*>(?:\s*</script>)?",
    re.IGNORECASE,
)
EXTERNAL_IMG = re.compile(r"<img\b[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>", re.IGNORECASE)
EXTERNAL_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.IGNORECASE)

STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1f2937; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #d1d5db; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
.ok { color: #047857; font-weight: 600; } .fail { color: #b91c1c; font-weight: 600; }
.warn { color: #b45309; font-weight: 600; }
</style>"""


def project_root(ctx: JobContext) -> str | None:
    """The Great Expectations project of a local lakehouse; None for a lakehouse on S3."""
    lakehouse = ctx.settings.lakehouse_dir
    return None if "://" in lakehouse else os.path.join(os.path.abspath(lakehouse), SITE[0])


def data_docs_index(ctx: JobContext) -> str | None:
    """The Data Docs index page of a local lakehouse; None for a lakehouse on S3."""
    root = project_root(ctx)
    return None if root is None else os.path.join(root, *SITE[1:], "index.html")


def strip_external(page: str) -> str:
    """The page without anything it would fetch from the network, plus an inline stylesheet."""
    page = EXTERNAL_IMG.sub("", EXTERNAL_TAG.sub("", page))
    page = EXTERNAL_CSS_URL.sub("none", page)
    if STYLE not in page:
        page = page.replace("</head>", STYLE + "</head>", 1)
    return page


def latest_page(site: Path, folder: str, table: str) -> str | None:
    """Relative link to a table's suite page, or its newest result page (runs sort by time)."""
    layer, name = table.split(".")
    single = site / folder / layer / f"{name}.html"
    if single.is_file():
        return single.relative_to(site).as_posix()
    pages = sorted((site / folder / layer / name).glob("**/*.html"))
    return pages[-1].relative_to(site).as_posix() if pages else None


def _status(rows: list[Mapping[str, Any]]) -> tuple[str, str]:
    errors = sum(1 for r in rows if not r["success"] and r["severity"] == "error")
    warnings = sum(1 for r in rows if not r["success"] and r["severity"] == "warn")
    if errors:
        return "fail", f"{errors} error(s) failed"
    if warnings:
        return "warn", f"passed, {warnings} warning(s)"
    return "ok", "passed"


def render_index(results: Iterable[Mapping[str, Any]], links: Mapping[str, dict[str, str]]) -> str:
    """A static page: per table, the latest run's status and links; then every failed check."""
    by_table: dict[str, list[Mapping[str, Any]]] = {}
    for row in results:
        by_table.setdefault(str(row["table_name"]), []).append(row)
    e = html.escape
    summary, failures = [], []
    for table in sorted(by_table):
        rows = by_table[table]
        css, text = _status(rows)
        page = links.get(table, {})
        refs = " · ".join(
            f'<a href="{e(href)}">{e(label)}</a>' for label, href in sorted(page.items())
        )
        summary.append(
            f"<tr><td>{e(table)}</td><td class='{css}'>{e(text)}</td><td>{len(rows)}</td>"
            f"<td>{e(str(rows[0]['validated_at']))}</td><td>{e(str(rows[0]['run_id']))}</td>"
            f"<td>{refs}</td></tr>"
        )
        for r in rows:
            if not r["success"]:
                level = "fail" if r["severity"] == "error" else "warn"
                failures.append(
                    f"<tr><td>{e(table)}</td><td class='{level}'>"
                    f"{e(str(r['severity']))}</td><td>{e(str(r['description']))}</td>"
                    f"<td>{e(str(r['observed_value']))}</td></tr>"
                )
    failed = (
        "<table><tr><th>table</th><th>severity</th><th>expectation</th><th>observed</th></tr>"
        + "".join(failures)
        + "</table>"
        if failures
        else "<p class='ok'>Every expectation passed.</p>"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Lakehouse data quality</title>"
        f"{STYLE}</head><body><h1>Lakehouse data quality</h1>"
        "<p>Latest Great Expectations validation of every silver and gold table. "
        "Each table links to its expectation suite and to its latest validation result.</p>"
        "<table><tr><th>table</th><th>status</th><th>expectations</th><th>validated at (UTC)</th>"
        "<th>run</th><th>pages</th></tr>" + "".join(summary) + "</table>"
        "<h2>Failed expectations</h2>" + failed + "</body></html>"
    )


def publish(site: Path, latest_results: Sequence[Mapping[str, Any]]) -> Path:
    """Rewrite the site for offline reading and write its index; returns the index path."""
    for page in site.glob("**/*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = strip_external(text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")
    tables = {str(r["table_name"]) for r in latest_results}
    links: dict[str, dict[str, str]] = {}
    for table in tables:
        found = {
            "suite": latest_page(site, "expectations", table),
            "latest result": latest_page(site, "validations", table),
        }
        links[table] = {label: href for label, href in found.items() if href}
    index = site / "index.html"
    index.write_text(render_index(latest_results, links), encoding="utf-8")
    return index
