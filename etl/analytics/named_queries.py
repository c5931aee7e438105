"""The business questions in `etl/sql/athena/*.sql`, one file each.

Each file opens with a comment header, then the query in Athena's dialect (Trino)::

    -- name: <the file name without .sql>
    -- description: <one sentence, which may continue on further `--` lines>
    SELECT ...

Tables are named as the Glue catalog shows them to Athena, `gold.<table>` and `silver.<table>`.
These files are the single source of the Athena named queries of the stack
(`scripts/render_named_queries.py`) and of the local `etl.query` and `etl.report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ATHENA_SQL_DIR = Path(__file__).resolve().parents[1] / "sql" / "athena"


class NamedQueryError(ValueError):
    """A SQL file whose header is missing or malformed."""


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str  # the query, without its header
    path: Path


def parse_named_query(path: Path) -> NamedQuery:
    lines = path.read_text(encoding="utf-8").splitlines()
    header: dict[str, str] = {}
    key = ""
    body_start = len(lines)
    for number, line in enumerate(lines):
        if not line.startswith("--"):
            body_start = number
            break
        text = line[2:].strip()
        field, sep, value = text.partition(":")
        if sep and field in ("name", "description"):
            key = field
            header[key] = value.strip()
        elif key == "description" and text:
            header[key] += " " + text
        else:
            raise NamedQueryError(f"{path}:{number + 1}: unexpected header line {line!r}")
    sql = "\n".join(lines[body_start:]).strip()
    if not header.get("name") or not header.get("description"):
        raise NamedQueryError(f"{path}: the header needs `-- name:` and `-- description:` lines")
    if header["name"] != path.stem:
        raise NamedQueryError(f"{path}: name {header['name']!r} differs from the file name")
    if not sql:
        raise NamedQueryError(f"{path}: no query after the header")
    return NamedQuery(name=header["name"], description=header["description"], sql=sql, path=path)


def load_named_queries(folder: Path = ATHENA_SQL_DIR) -> list[NamedQuery]:
    """Every query of the folder, in file-name order."""
    return [parse_named_query(path) for path in sorted(folder.glob("*.sql"))]


def named_query(name: str, folder: Path = ATHENA_SQL_DIR) -> NamedQuery:
    return parse_named_query(folder / f"{name}.sql")
