"""Write the lakehouse dashboard: one self-contained HTML file with inline SVG charts.

    uv run python -m etl.report                      # <lakehouse>/reports/dashboard.html
    uv run python -m etl.report --output /tmp/dashboard.html

Charts: daily revenue and orders, top products, department share of units per day, customer
segments, basket sizes, and a data-quality panel (quarantined rows by reason, the last run from
_audit/runs, the latest Great Expectations results when _audit/dq_results exists). Every figure
comes from the gold, quarantine and audit tables through the query layer of `etl.query`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from etl.analytics.dashboard import collect, render
from etl.cli import guarded, parser_for, start
from etl.errors import EtlError
from etl.settings import Settings, require_lakehouse

OPTIONS = ("lakehouse_dir",)
REPORTS_LAYER = "reports"
DASHBOARD_FILE = "dashboard.html"


def default_output(settings: Settings) -> str:
    return settings.table_path(REPORTS_LAYER, DASHBOARD_FILE)


def write_text(uri: str, text: str) -> None:
    """Write to a local path or, for a URI such as s3://bucket/key, through pyarrow's filesystem."""
    if "://" in uri:
        from pyarrow import fs

        filesystem, path = fs.FileSystem.from_uri(uri)
        with filesystem.open_output_stream(path) as out:
            out.write(text.encode("utf-8"))
        return
    target = Path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def build_report(settings: Settings, output: str | None = None) -> str:
    """Render the dashboard of the lakehouse of `settings`; returns where it was written."""
    target = output or default_output(settings)
    write_text(target, render(collect(settings, datetime.now(UTC))))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(
        "python -m etl.report",
        "Write the lakehouse dashboard as one self-contained HTML file.",
        OPTIONS,
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="where to write the HTML [default: <lakehouse>/reports/dashboard.html]",
    )
    args = parser.parse_args(argv)

    def _body() -> int:
        settings = start(args, OPTIONS, writes=False)
        require_lakehouse(settings)
        try:
            target = build_report(settings, args.output)
        except OSError as exc:
            raise EtlError(f"cannot write the dashboard: {exc}") from exc
        print(f"dashboard written to {target}")
        return 0

    return guarded(_body)


if __name__ == "__main__":
    raise SystemExit(main())
