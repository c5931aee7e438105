"""Run Athena-dialect SQL (Trino) against the local silver and gold Delta tables.

    uv run python -m etl.query "SELECT * FROM gold.daily_sales ORDER BY order_date"
    uv run python -m etl.query --file etl/sql/athena/customer_segments.sql --format csv
    uv run python -m etl.query --list

Tables are named as in Athena (`gold.<table>`, `silver.<table>`), plus the local-only
`quarantine.<dataset>`, `audit.runs` and `audit.dq_results`. DuckDB runs the query over delta-rs
Arrow datasets after sqlglot translates it; no Spark is started. An unknown table or bad SQL is
reported on one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from etl.analytics.engine import known_tables, run_query, to_duckdb
from etl.analytics.formats import FORMATS, format_result, write_result
from etl.analytics.named_queries import load_named_queries
from etl.cli import guarded, parser_for, start
from etl.errors import EtlError
from etl.settings import require_lakehouse

OPTIONS = ("lakehouse_dir",)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = parser_for(
        "python -m etl.query",
        "Run Athena-dialect SQL against the local silver and gold Delta tables.",
        OPTIONS,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("sql", nargs="?", help="the query text")
    source.add_argument(
        "--file", type=Path, metavar="PATH", help="a file holding the query ('-' for stdin)"
    )
    source.add_argument(
        "--list", action="store_true", help="list the shipped queries and the tables, then exit"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    return parser.parse_args(argv)


def read_sql(args: argparse.Namespace) -> str:
    if args.file is None:
        return str(args.sql)
    if str(args.file) == "-":
        return sys.stdin.read()
    try:
        return Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise EtlError(f"cannot read {args.file}: {exc.strerror}") from exc


def listing() -> str:
    lines = ["queries (etl/sql/athena):"]
    lines += [f"  {q.name}: {q.description}" for q in load_named_queries()]
    lines += ["tables:"] + [f"  {name}" for name in known_tables()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print(listing())
        return 0

    def _body() -> int:
        settings = start(args, OPTIONS, writes=False)
        sql = read_sql(args)
        if to_duckdb(sql)[1]:  # the query reads tables (bad SQL is reported first)
            require_lakehouse(settings)
        result = run_query(sql, settings)
        write_result(format_result(result, args.format))
        return 0

    return guarded(_body)


if __name__ == "__main__":
    raise SystemExit(main())
