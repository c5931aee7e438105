"""Make the Great Expectations Data Docs browsable offline, with one summary index page.

GE's pages pull CSS, JavaScript and a logo from CDNs, and its index is filled in by that
JavaScript. Opened offline it would be empty, and opened online it would reach the network.
After every validation the site is rewritten:

- external references are removed and a small inline stylesheet is added;
- GE's status icons (Font Awesome classes, blank without the CDN stylesheet) become inline SVG
  markers with a word: passed, failed, or warning for a failed `warn`-severity expectation. A
  page's overall status is worked out from its expectations and their severities, the same way
  as the index and the dashboard do it (`table_status`), so a table whose only failures are
  warnings says "passed, N warning(s)" everywhere, never "Failed";
- the "Failed only" filter, a jQuery script in GE's pages, is replaced by plain JavaScript, and
  GE's other jQuery snippet (a walkthrough pop-up) is dropped;
- `index.html` becomes a static page listing every table's latest results (from
  `_audit/dq_results`) with links to GE's validation and suite pages.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
.dq { font-weight: 600; white-space: nowrap; }
.dq svg { vertical-align: -2px; margin-right: .3em; }
.ok { color: #047857; } .fail { color: #b91c1c; } .warn { color: #b45309; }
.btn-group label { margin-right: 1.2em; cursor: pointer; }
footer { display: none; }
</style>"""

Level = Literal["ok", "warn", "fail"]
COLORS: dict[str, str] = {"ok": "#047857", "warn": "#b45309", "fail": "#b91c1c"}
ICONS: dict[str, str] = {
    "ok": '<circle cx="7" cy="7" r="7" fill="#047857"/>'
    '<path d="M3.8 7.2l2.2 2.2 4.2-4.6" stroke="#fff" stroke-width="1.8" fill="none"/>',
    "warn": '<path d="M7 .6L13.8 13H.2z" fill="#b45309"/>'
    '<rect x="6.2" y="4.6" width="1.6" height="4.6" fill="#fff"/>'
    '<rect x="6.2" y="10.2" width="1.6" height="1.6" fill="#fff"/>',
    "fail": '<circle cx="7" cy="7" r="7" fill="#b91c1c"/>'
    '<path d="M4.4 4.4l5.2 5.2M9.6 4.4l-5.2 5.2" stroke="#fff" stroke-width="1.8"/>',
}


@dataclass(frozen=True)
class Status:
    """A table's (or one expectation's) outcome: a level and the words shown with it."""

    level: Level
    text: str


def table_status(errors: int, warnings: int) -> Status:
    """The status of a table from its failed `error` and failed `warn` expectations; the one
    wording of the index, the result pages and the dashboard."""
    if errors:
        extra = f", {warnings} warning(s)" if warnings else ""
        return Status("fail", f"failed, {errors} error(s){extra}")
    if warnings:
        return Status("warn", f"passed, {warnings} warning(s)")
    return Status("ok", "passed")


def expectation_status(success: bool, severity: str) -> Status:
    if success:
        return Status("ok", "passed")
    return Status("warn", "warning") if severity == "warn" else Status("fail", "failed")


def marker(status: Status) -> str:
    """An inline SVG icon and the status words, styled inline so that no stylesheet is needed."""
    icon = (
        f'<svg width="14" height="14" viewBox="0 0 14 14" role="img" '
        f'aria-label="{status.level}">{ICONS[status.level]}</svg>'
    )
    return (
        f'<span class="dq {status.level}" data-status="{status.level}" '
        f'style="color:{COLORS[status.level]};font-weight:600;white-space:nowrap">'
        f"{icon}{html.escape(status.text)}</span>"
    )


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


GE_ICON = re.compile(
    r'<i class="fas (?P<kind>fa-check-circle text-success|fa-times text-danger|'
    r'fa-exclamation-triangle text-warning)"[^>]*>\s*</i>'
)
GE_OVERALL = re.compile(
    r'(?P<label><span class="h6" >Status:</span>)\s*(?:<i class="fas [^"]*"[^>]*>\s*</i>)?\s*'
    r"(?:Succeeded|Failed)"
)


def _severity_near(page: str, start: int, end: int, severities: Mapping[str, str]) -> str:
    """The severity of the expectation whose description follows a status icon (in the same
    row: between `start` and the next icon); `error` when none is recognised."""
    window = page[start:end]
    found = [
        (position, -len(description), severity)
        for description, severity in severities.items()
        for position in (window.find(html.escape(description, quote=False)),)
        if position >= 0
    ]
    return min(found)[2] if found else "error"


def mark_results(page: str, severities: Mapping[str, str]) -> str:
    """GE's status icons replaced by markers, each failed expectation marked by its severity
    (`severities`: description -> `error` | `warn`), and the page's overall status replaced by
    `table_status` of its failed expectations. Pages without GE icons come back unchanged."""
    overall = GE_OVERALL.search(page)
    skip = range(overall.start(), overall.end()) if overall else range(0)
    icons = [m for m in GE_ICON.finditer(page) if m.start() not in skip]
    if not icons:
        return page
    parts, last, errors, warnings = [], 0, 0, 0
    for i, match in enumerate(icons):
        success = match["kind"].startswith("fa-check")
        severity = "error"
        if not success:
            following = icons[i + 1].start() if i + 1 < len(icons) else len(page)
            severity = _severity_near(page, match.end(), following, severities)
            errors += severity != "warn"
            warnings += severity == "warn"
        parts += [page[last : match.start()], marker(expectation_status(success, severity))]
        last = match.end()
    page = "".join([*parts, page[last:]])
    status = marker(table_status(errors, warnings))
    return GE_OVERALL.sub(lambda m: f"{m['label']} {status}", page, count=1)


SCRIPT = re.compile(r"<script>(?P<body>.*?)</script>", re.DOTALL)
FILTER_SCRIPT = """<script>
function dqFilter(failedOnly) {
  var show = failedOnly ? "none" : "";
  document.querySelectorAll(".hide-succeeded-validation-target-child").forEach(function (cell) {
    cell.parentElement.style.display = show;
  });
  document.querySelectorAll(".hide-succeeded-validation-target").forEach(function (el) {
    el.style.display = show;
  });
  document.querySelectorAll(".hide-succeeded-validations-column-section-target-child")
    .forEach(function (el) {
      var section = el.parentElement.parentElement;
      section.style.display = show;
      document.querySelectorAll('a[href$="#' + section.id + '"]').forEach(function (link) {
        link.style.display = show;
      });
    });
}
function showAllValidations() { dqFilter(false); }
function hideSucceededValidations() { dqFilter(true); }
</script>"""


def replace_jquery(page: str) -> str:
    """GE's jQuery snippets: the "Failed only" filter in plain JavaScript, the rest removed
    (jQuery itself came from a CDN and is gone)."""

    def replace(match: re.Match[str]) -> str:
        body = match["body"]
        if "$(" not in body:
            return match[0]
        return FILTER_SCRIPT if "function hideSucceededValidations" in body else ""

    return SCRIPT.sub(replace, page)


def severities_of(table: str, results: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """description -> severity for a table's expectations, as `_audit/dq_results` recorded
    them (every validated expectation is recorded with its severity)."""
    return {
        str(row["description"]): str(row["severity"])
        for row in results
        if row["table_name"] == table
    }


def latest_page(site: Path, folder: str, table: str) -> str | None:
    """Relative link to a table's suite page, or its newest result page (runs sort by time)."""
    layer, name = table.split(".")
    single = site / folder / layer / f"{name}.html"
    if single.is_file():
        return single.relative_to(site).as_posix()
    pages = sorted((site / folder / layer / name).glob("**/*.html"))
    return pages[-1].relative_to(site).as_posix() if pages else None


def _counts(rows: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    errors = sum(1 for r in rows if not r["success"] and r["severity"] != "warn")
    warnings = sum(1 for r in rows if not r["success"] and r["severity"] == "warn")
    return errors, warnings


def render_index(results: Iterable[Mapping[str, Any]], links: Mapping[str, dict[str, str]]) -> str:
    """A static page: per table, the latest run's status and links; then every failed check."""
    by_table: dict[str, list[Mapping[str, Any]]] = {}
    for row in results:
        by_table.setdefault(str(row["table_name"]), []).append(row)
    e = html.escape
    summary, failures = [], []
    for table in sorted(by_table):
        rows = by_table[table]
        page = links.get(table, {})
        refs = " · ".join(
            f'<a href="{e(href)}">{e(label)}</a>' for label, href in sorted(page.items())
        )
        summary.append(
            f"<tr><td>{e(table)}</td><td>{marker(table_status(*_counts(rows)))}</td>"
            f"<td>{len(rows)}</td><td>{e(str(rows[0]['validated_at']))}</td>"
            f"<td>{e(str(rows[0]['run_id']))}</td><td>{refs}</td></tr>"
        )
        for r in rows:
            if not r["success"]:
                status = expectation_status(False, str(r["severity"]))
                failures.append(
                    f"<tr><td>{e(table)}</td><td>{marker(status)}</td>"
                    f"<td>{e(str(r['severity']))}</td><td>{e(str(r['description']))}</td>"
                    f"<td>{e(str(r['observed_value']))}</td></tr>"
                )
    failed = (
        "<table><tr><th>table</th><th>status</th><th>severity</th><th>expectation</th>"
        "<th>observed</th></tr>" + "".join(failures) + "</table>"
        if failures
        else f"<p>{marker(Status('ok', 'Every expectation passed.'))}</p>"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Lakehouse data quality</title>"
        f"{STYLE}</head><body><h1>Lakehouse data quality</h1>"
        "<p>Latest Great Expectations validation of every silver and gold table. "
        "Each table links to its expectation suite and to its latest validation result. "
        "A failed <code>error</code> expectation fails the table (and its job, exit code 3); "
        "a failed <code>warn</code> expectation is a warning and the table passes.</p>"
        "<table><tr><th>table</th><th>status</th><th>expectations</th><th>validated at (UTC)</th>"
        "<th>run</th><th>pages</th></tr>" + "".join(summary) + "</table>"
        "<h2>Failed expectations and warnings</h2>" + failed + "</body></html>"
    )


def rewrite_page(page: str, relative: Path, results: Sequence[Mapping[str, Any]]) -> str:
    """One GE page made honest offline (see the module docstring)."""
    page = replace_jquery(strip_external(page))
    parts = relative.parts
    if len(parts) > 3 and parts[0] == "validations":
        page = mark_results(page, severities_of(f"{parts[1]}.{parts[2]}", results))
    return page


def publish(site: Path, latest_results: Sequence[Mapping[str, Any]]) -> Path:
    """Rewrite the site for offline reading and write its index; returns the index path."""
    for page in site.glob("**/*.html"):
        if page == site / "index.html":
            continue
        text = page.read_text(encoding="utf-8")
        cleaned = rewrite_page(text, page.relative_to(site), latest_results)
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
