"""Athena-dialect SQL over the local lakehouse: sqlglot turns Trino into DuckDB, and DuckDB reads
the Delta tables as Arrow datasets. No Spark.

Tables are named as Athena sees them in the Glue catalog: `gold.<table>` and `silver.<table>`
(an unqualified name means gold, the named queries' default database). Two local-only schemas
expose what Athena does not register: `quarantine.<dataset>` and `audit.runs` /
`audit.dq_results`.

The DuckDB session is set up to behave like Trino where the two differ silently: time zone UTC
and integer division of integers.

Each table's Arrow dataset reads its Parquet files through Arrow's own (C++) filesystem, never
through delta-rs's default Python filesystem handler: when DuckDB stops reading early (a `LIMIT`),
Arrow's I/O threads are still calling that Python handler as the interpreter exits, and the
process aborts (exit 134 or 139) after printing its result. Arrow's native filesystems have no
Python in the I/O path; the dataset stays lazy, so DuckDB still pushes projections and filters
down to the Parquet scan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from deltalake import DeltaTable
from deltalake.exceptions import DeltaProtocolError
from pyarrow import fs as pafs
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, UnsupportedError

from etl.errors import EtlError
from etl.registry import datasets, gold_tables
from etl.settings import Settings


# schema → (folder under the lakehouse, tables)
def schemas() -> dict[str, tuple[str, tuple[str, ...]]]:
    """schema → (folder under the lakehouse, tables), from the registry when asked."""
    return {
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
    return [f"{schema}.{table}" for schema, (_, tables) in schemas().items() for table in tables]


def table_path(settings: Settings, name: str) -> str:
    """The Delta location of `schema.table`; QueryError for a name outside the catalog."""
    schema, _, table = name.partition(".")
    folder, tables = schemas().get(schema, ("", ()))
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
            raise QueryError(
                f"{table.sql(dialect='trino')} is not a table of the lakehouse: a query reads "
                "only the tables that `python -m etl.query --list` shows"
            )
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
        if table not in schemas().get(schema, ("", ()))[1]:
            raise QueryError(f"unknown table {name}; known tables: {', '.join(known_tables())}")
    try:
        return statement.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE), tables
    except UnsupportedError as exc:
        raise QueryError(f"cannot run locally: {_one_line(str(exc))}") from exc


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads nothing but the Arrow data registered with it: no files,
    no extensions from the network (Athena cannot read local files either)."""
    connection = duckdb.connect(":memory:", config={"enable_external_access": False})
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET integer_division = true")  # Trino: 7 / 2 = 3
    return connection


def native_filesystem(path: str) -> pafs.FileSystem:
    """Arrow's own filesystem rooted at a table: local, or the one its URI names (s3://...)."""
    if "://" in path:
        filesystem, root = pafs.FileSystem.from_uri(path)
    else:
        filesystem, root = pafs.LocalFileSystem(), os.path.abspath(path)
    return pafs.SubTreeFileSystem(root, filesystem)


def arrow_source(path: str) -> pa.Table | Any:
    """The current version of a Delta table for DuckDB: a lazy Arrow dataset over the table's
    Parquet files, read by Arrow's native filesystem (see the module docstring).

    A table that a plain Arrow dataset would misread (column mapping: the Parquet columns have
    other names) or cannot read (deletion vectors) is read whole by delta-rs's own engine instead.
    """
    table = DeltaTable(path)
    mapping = table.metadata().configuration.get("delta.columnMapping.mode", "none")
    if mapping == "none":
        try:
            return table.to_pyarrow_dataset(filesystem=native_filesystem(path))
        except DeltaProtocolError:
            pass
    return pa.table(table.scan())


def check_lakehouse(settings: Settings) -> None:
    """QueryError when a local lakehouse folder is missing or is a file."""
    root = settings.lakehouse_dir
    if "://" in root:
        return
    if os.path.isfile(root):
        raise QueryError(f"the lakehouse {root} is a file; --lakehouse-dir takes a folder")
    if not os.path.isdir(root):
        raise QueryError(
            f"no lakehouse at {root}: the folder does not exist; give the folder the pipeline "
            f"wrote with --lakehouse-dir (or ETL_LAKEHOUSE_DIR), or build it with "
            f"`python -m etl.pipeline --lakehouse-dir {root}`"
        )


def register(connection: duckdb.DuckDBPyConnection, settings: Settings, name: str) -> None:
    """Expose a Delta table as the view `schema.table`; QueryError when it was never written."""
    path = table_path(settings, name)
    if not DeltaTable.is_deltatable(path):
        check_lakehouse(settings)
        raise QueryError(
            f"table {name} does not exist yet: no Delta table at {path} "
            "(the pipeline writes it: python -m etl.pipeline)"
        )
    schema, _, table = name.partition(".")
    source = f"_{schema}__{table}"
    connection.register(source, arrow_source(path))
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
