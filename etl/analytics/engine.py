"""Athena-dialect SQL over the local lakehouse: sqlglot turns Trino into DuckDB, and DuckDB reads
the Delta tables through delta-rs Arrow datasets. No Spark.

Tables are named as Athena sees them in the Glue catalog: `gold.<table>` and `silver.<table>`
(an unqualified name means gold, the named queries' default database). Two local-only schemas
expose what Athena does not register: `quarantine.<dataset>` and `audit.runs` /
`audit.dq_results`.

The DuckDB session is set up to behave like Trino where the two differ silently: time zone UTC
and integer division of integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import sqlglot
from deltalake import DeltaTable
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from etl.errors import EtlError
from etl.registry import datasets, gold_tables
from etl.settings import Settings

# schema → (folder under the lakehouse, tables)
SCHEMAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gold": ("gold", gold_tables()),
    "silver": ("silver", datasets()),
    "quarantine": ("quarantine", datasets()),
    "audit": ("_audit", ("runs", "dq_results")),
}
DEFAULT_SCHEMA = "gold"
ATHENA_CATALOG = "awsdatacatalog"


class QueryError(EtlError):
    """SQL that cannot run: a parse error, an unknown or missing table, or a DuckDB error."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def known_tables() -> list[str]:
    return [f"{schema}.{table}" for schema, (_, tables) in SCHEMAS.items() for table in tables]


def table_path(settings: Settings, name: str) -> str:
    """The Delta location of `schema.table`; QueryError for a name outside the catalog."""
    schema, _, table = name.partition(".")
    folder, tables = SCHEMAS.get(schema, ("", ()))
    if table not in tables:
        raise QueryError(f"unknown table {name}; known tables: {', '.join(known_tables())}")
    return settings.table_path(folder, table)


def table_exists(settings: Settings, name: str) -> bool:
    return bool(DeltaTable.is_deltatable(table_path(settings, name)))


def _one_line(message: str) -> str:
    """A multi-line message (DuckDB adds the query with a caret) as one line."""
    return " ".join(message.split("\nLINE ")[0].split())


def parse_query(sql: str) -> exp.Query:
    """One read-only statement in Trino's dialect."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first['line']}, column {first['col']}" if "line" in first else ""
        description = first.get("description") or str(exc).splitlines()[0]
        raise QueryError(f"invalid SQL{where}: {_one_line(description)}") from exc
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise QueryError(f"only queries (SELECT, WITH) are supported, not {statement.key.upper()}")
    return statement


def qualify_tables(statement: exp.Query) -> list[str]:
    """Resolve every table the statement reads to `schema.table`, in place; CTEs are skipped.

    Returns the distinct names, sorted.
    """
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    names: list[str] = []
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function
        if not table.db and table.name.lower() in ctes:
            continue
        catalog = table.catalog.lower()
        if catalog and catalog != ATHENA_CATALOG:
            raise QueryError(f"unknown catalog {table.catalog} in {table.sql(dialect='trino')}")
        schema = (table.db or DEFAULT_SCHEMA).lower()
        name = f"{schema}.{table.name.lower()}"
        table.set("catalog", None)
        table.set("db", exp.to_identifier(schema))
        table.set("this", exp.to_identifier(table.name.lower()))
        names.append(name)
    return sorted(set(names))


def to_duckdb(sql: str) -> tuple[str, list[str]]:
    """The DuckDB text of an Athena query and the tables it reads."""
    statement = parse_query(sql)
    tables = qualify_tables(statement)
    for name in tables:
        schema, _, table = name.partition(".")
        if table not in SCHEMAS.get(schema, ("", ()))[1]:
            raise QueryError(f"unknown table {name}; known tables: {', '.join(known_tables())}")
    try:
        return statement.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE), tables
    except UnsupportedError as exc:
        raise QueryError(f"cannot run locally: {_one_line(str(exc))}") from exc


def connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET integer_division = true")  # Trino: 7 / 2 = 3
    return connection


def register(connection: duckdb.DuckDBPyConnection, settings: Settings, name: str) -> None:
    """Expose a Delta table as the view `schema.table`; QueryError when it was never written."""
    path = table_path(settings, name)
    if not DeltaTable.is_deltatable(path):
        raise QueryError(f"table {name} does not exist yet: no Delta table at {path}")
    schema, _, table = name.partition(".")
    source = f"_{schema}__{table}"
    connection.register(source, DeltaTable(path).to_pyarrow_dataset())
    connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    connection.execute(f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS SELECT * FROM "{source}"')


def run_query(sql: str, settings: Settings) -> QueryResult:
    """Run one Athena-dialect query over the lakehouse of `settings`."""
    duck_sql, tables = to_duckdb(sql)
    connection = connect()
    try:
        for name in tables:
            register(connection, settings, name)
        cursor = connection.execute(duck_sql)
        columns = tuple(d[0] for d in cursor.description or ())
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise QueryError(_one_line(str(exc))) from exc
    finally:
        connection.close()
    return QueryResult(columns=columns, rows=rows)
