"""Write the Athena named queries of infrastructure/templates/lakehouse.yaml from etl/sql/athena.

Each `etl/sql/athena/<name>.sql` becomes one `AWS::Athena::NamedQuery` resource between the
marker comments of the template. The files name tables as Athena's Glue catalog shows them
locally (`gold.<table>`, `silver.<table>`); in the template those prefixes become the stack's
database names, `${GoldDatabase}.` and `${SilverDatabase}.`, through `!Sub`.

Usage:
    uv run python scripts/render_named_queries.py          # rewrite the template section
    uv run python scripts/render_named_queries.py --check  # exit 1 if the template is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import sqlglot
from sqlglot import exp

from etl.analytics.named_queries import ATHENA_SQL_DIR, NamedQuery, load_named_queries

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "infrastructure" / "templates" / "lakehouse.yaml"
BEGIN = (
    "  # BEGIN named queries: generated from etl/sql/athena/*.sql by "
    "scripts/render_named_queries.py"
)
END = "  # END named queries"
# Glue database of each schema prefix, as the stack's logical resource names.
DATABASES = {"gold": "GoldDatabase", "silver": "SilverDatabase"}
PREFIX = re.compile(r"\b(gold|silver)\.(?=[a-z_])")


def logical_id(query: NamedQuery) -> str:
    return "".join(part.capitalize() for part in query.name.split("_")) + "Query"


def substitute_databases(query: NamedQuery) -> str:
    """The query with `gold.`/`silver.` table prefixes replaced by `${...Database}.`."""
    if "${" in query.sql:
        raise ValueError(f"{query.path}: `${{` would be read as a substitution by !Sub")
    tables = [
        t
        for t in sqlglot.parse_one(query.sql, read="trino").find_all(exp.Table)
        if t.db.lower() in DATABASES
    ]
    prefixes = PREFIX.findall(query.sql)
    if len(prefixes) != len(tables):
        raise ValueError(
            f"{query.path}: `gold.`/`silver.` appears {len(prefixes)} times but only "
            f"{len(tables)} are table names; rename the other uses"
        )
    return PREFIX.sub(lambda m: "${" + DATABASES[m.group(1)] + "}.", query.sql)


def render_resource(query: NamedQuery) -> str:
    body = "\n".join(
        f"        {line}".rstrip() for line in substitute_databases(query).splitlines()
    )
    return "\n".join(
        [
            f"  {logical_id(query)}:",
            "    Type: AWS::Athena::NamedQuery",
            "    Properties:",
            f"      Name: {query.name}",
            f"      Description: {json.dumps(query.description)}",
            "      Database: !Ref GoldDatabase",
            "      WorkGroup: !Ref AthenaWorkGroup",
            "      QueryString: !Sub |",
            body,
        ]
    )


def render_section(queries: list[NamedQuery]) -> str:
    resources = "\n\n".join(render_resource(q) for q in queries)
    return f"{BEGIN}\n{resources}\n{END}"


def render_template(template: str, queries: list[NamedQuery]) -> str:
    """The template text with the section between the markers replaced."""
    start, end = template.find(BEGIN), template.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{TEMPLATE}: markers {BEGIN.strip()!r} / {END.strip()!r} not found")
    return template[:start] + render_section(queries) + template[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check, exit 1 when stale")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--sql-dir", type=Path, default=ATHENA_SQL_DIR)
    args = parser.parse_args(argv)
    current = args.template.read_text(encoding="utf-8")
    rendered = render_template(current, load_named_queries(args.sql_dir))
    if rendered == current:
        print(f"{args.template}: named queries up to date")
        return 0
    if args.check:
        print(
            f"{args.template}: named queries differ from {args.sql_dir}; "
            "run `uv run python scripts/render_named_queries.py`",
            file=sys.stderr,
        )
        return 1
    args.template.write_text(rendered, encoding="utf-8")
    print(f"{args.template}: named queries rewritten from {args.sql_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
