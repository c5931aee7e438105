"""Keep docs/ honest: tables, columns, keys, modules, flags, links and diagrams against the code.

Schemas come from the code itself: the bronze, silver and quarantine transforms and the gold
`build` functions applied to empty DataFrames (Spark only analyses the plans, nothing runs),
and the audit tables' declared schemas. No Delta table and no pipeline run is needed.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import registry
from etl.contracts import CONTRACTS
from etl.errors import DataQualityError, EtlError, ExitCode, SourceFileError
from etl.gold.job import GoldTable
from etl.maintenance import maintained_tables
from etl.settings import DEFAULT_VACUUM_RETENTION_HOURS

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
OWN_DOCS = ("requirements.md", "architecture.md", "data_model.md", "etl_processes.md")
LAYERS = ("bronze", "silver", "quarantine", "gold", "_audit")
DIAGRAM_TYPES = ("flowchart", "graph", "sequenceDiagram", "erDiagram", "stateDiagram-v2")

# `silver/orders`, but not the `silver/job` of `etl/silver/job.py`.
TABLE_PATH = re.compile(r"(?<![\w/.<>-])(" + "|".join(LAYERS) + r")/([a-z_]+)\b(?![/.]\w)")
SECTION = re.compile(r"^### `([\w]+/[\w]+)`\s*$", re.MULTILINE)
MERMAID = re.compile(r"^```mermaid\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
PYTHON_M = re.compile(r"python -m (etl(?:\.\w+)*)(?![.\w<])")  # not `etl.<layer>...`


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def all_docs() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


# ---------------------------------------------------------------- the code's tables


def code_tables() -> set[str]:
    """Every table the code writes: maintained tables plus the `ctx.path("_audit", ...)` ones."""
    tables = {table for table, *_ in maintained_tables()}
    call = re.compile(r"\.path\(\s*\"(\w+)\",\s*\"(\w+)\"\s*\)")
    for source in (REPO / "etl").rglob("*.py"):
        tables |= {f"{a}/{b}" for a, b in call.findall(source.read_text(encoding="utf-8"))}
    return tables


def gold_tables() -> dict[str, GoldTable]:
    return {
        name: importlib.import_module(f"etl.gold.{name}_etl").TABLE
        for name in registry.gold_tables()
    }


def code_schemas(spark: SparkSession) -> dict[str, list[tuple[str, str]]]:
    """(column, Spark SQL type) of every table, from the transforms that produce it."""
    from etl.bronze.ledger import LEDGER_SCHEMA
    from etl.changes import CHANGES_SCHEMA

    from etl.audit import RUNS_SCHEMA
    from etl.bronze.ingest import add_metadata, text_schema
    from etl.gold.job import Silver
    from etl.quality.row_rules import check, rejected_rows, valid_rows
    from etl.quality.validate import RESULTS_SCHEMA
    from etl.silver.conform import latest_per_key, to_quarantine, to_silver

    def columns(df: DataFrame) -> list[tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]

    schemas: dict[str, list[tuple[str, str]]] = {}
    silver: dict[str, DataFrame] = {}
    for dataset, contract in CONTRACTS.items():  # products and orders before order_items
        raw = spark.createDataFrame([], text_schema(contract.source_columns))
        bronze = raw.withColumn("_source_file", F.lit("f")).transform(
            add_metadata(contract.source_columns, "batch", datetime(2025, 1, 1))
        )
        checked = bronze.transform(check(contract, silver))
        silver[dataset] = (
            valid_rows(checked).transform(latest_per_key(contract)).transform(to_silver(contract))
        )
        quarantine = rejected_rows(checked).transform(
            to_quarantine(contract, "run", "2025-01-01 00:00:00")
        )
        schemas[f"bronze/{dataset}"] = columns(bronze)
        schemas[f"silver/{dataset}"] = columns(silver[dataset])
        schemas[f"quarantine/{dataset}"] = columns(quarantine)
    built = Silver(**silver)
    for name, table in gold_tables().items():
        schemas[f"gold/{name}"] = columns(table.build(built))
    for name, schema in (
        ("runs", RUNS_SCHEMA),
        ("ingested_files", LEDGER_SCHEMA),
        ("dq_results", RESULTS_SCHEMA),
        ("changes", CHANGES_SCHEMA),
    ):
        schemas[f"_audit/{name}"] = [(f.name, f.dataType.simpleString()) for f in schema.fields]
    return schemas


@pytest.fixture(scope="module")
def schemas(spark: SparkSession) -> dict[str, list[tuple[str, str]]]:
    return code_schemas(spark)


# ---------------------------------------------------------------- data_model.md parsing


def sections(text: str) -> dict[str, str]:
    """`### \\`layer/name\\`` heading → the text up to the next heading of level 1-3."""
    found = {}
    for match in SECTION.finditer(text):
        rest = text[match.end() :]
        end = re.search(r"^#{1,3} ", rest, re.MULTILINE)
        found[match.group(1)] = rest[: end.start()] if end else rest
    return found


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def documented_columns(section: str) -> dict[str, str]:
    """Rows of the column table: | `name` | `type` | meaning |."""
    out = {}
    for line in section.splitlines():
        row = cells(line) if line.startswith("|") else []
        if len(row) >= 3 and re.fullmatch(r"`\w+`", row[0]) and re.fullmatch(r"`[^`]+`", row[1]):
            out[row[0].strip("`")] = row[1].strip("`")
    return out


def documented_property(section: str, name: str) -> tuple[str, ...]:
    """Backticked names in the value cell of a `| name | value |` row; () for `—`."""
    for line in section.splitlines():
        row = cells(line) if line.startswith("|") else []
        if len(row) == 2 and row[0] == name:
            return tuple(re.findall(r"`(\w+)`", row[1]))
    raise AssertionError(f"no '{name}' row")


@pytest.fixture(scope="module")
def model() -> dict[str, str]:
    return sections(read("data_model.md"))


# ---------------------------------------------------------------- tests: data model


def test_data_model_documents_exactly_the_code_tables(model: dict[str, str]) -> None:
    assert set(model) == code_tables()


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_every_table_path_named_in_the_docs_exists(doc: str) -> None:
    named = {f"{a}/{b}" for a, b in TABLE_PATH.findall(read(doc))}
    assert named, f"{doc} names no table"
    assert named <= code_tables(), sorted(named - code_tables())


def test_columns_and_types_match_the_code(
    model: dict[str, str], schemas: dict[str, list[tuple[str, str]]]
) -> None:
    assert set(schemas) == set(model)
    for table, section in model.items():
        assert documented_columns(section) == dict(schemas[table]), table


def test_every_documented_location_is_the_table_path(model: dict[str, str]) -> None:
    for table, section in model.items():
        rows = [cells(line) for line in section.splitlines() if line.startswith("| location |")]
        assert rows == [["location", f"`<lakehouse>/{table}`"]], table


def test_keys_partitioning_and_zorder_match_the_code(model: dict[str, str]) -> None:
    zorder = {table: z for table, _owner, z, _partitions in maintained_tables()}
    for table, section in model.items():
        layer, name = table.split("/")
        partitioned = documented_property(section, "partitioned by")
        assert documented_property(section, "Z-order") == zorder.get(table, ()), table
        if layer == "silver":
            contract = CONTRACTS[name]
            assert documented_property(section, "key") == contract.key, table
            assert partitioned == contract.partition_by, table
        else:
            assert partitioned == (), table
        if layer == "gold":
            assert documented_property(section, "key") == gold_tables()[name].key, table
        if layer in ("bronze", "quarantine"):
            assert documented_property(section, "key") == ("_row_hash",), table


def test_segment_rule_matches_the_code(spark: SparkSession) -> None:
    from etl.gold.customer_insights_etl import BIG_SPEND, segment

    text = read("data_model.md")
    rule = text[text.index("#### Customer segment rule") :]
    assert f"≥ {BIG_SPEND} (`BIG_SPEND`)" in rule and f"below {BIG_SPEND}" in rule
    cases = [(5, 0.0, "champion"), (3, 0.0, "champion"), (2, 9999.0, "loyal")]
    cases += [(1, float(BIG_SPEND), "big_spender"), (1, BIG_SPEND - 0.01, "new")]
    df = spark.createDataFrame([c[:2] for c in cases], "orders bigint, spend double")
    got = [r[0] for r in df.select(segment(F.col("orders"), F.col("spend"))).collect()]
    assert got == [c[2] for c in cases]
    for name in ("champion", "loyal", "big_spender", "new"):
        assert f"| `{name}` |" in rule


# ---------------------------------------------------------------- tests: processes


def help_text(main: Callable[[list[str]], object], argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(argv)
    return out.getvalue()


def test_flags_in_etl_processes_exist() -> None:
    spec = importlib.util.spec_from_file_location(
        "run_job", REPO / "infrastructure" / "glue" / "run_job.py"
    )
    assert spec is not None and spec.loader is not None
    run_job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_job)
    texts = [
        help_text(importlib.import_module(m).main, ["--help"])
        for m in ("etl.pipeline", "etl.maintenance", "etl.bronze.orders_etl", "etl.query")
    ]
    texts.append(help_text(run_job._parse_locally, ["run_job.py", "--help"]))
    known = set(re.findall(r"--[a-z][\w-]*", "\n".join(texts)))
    text = read("etl_processes.md")
    spans = re.findall(r"`([^`\n]+)`", text) + MERMAID.findall(text)
    spans += re.findall(r"^```(?:bash|console|text)?\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    named = {flag for span in spans for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", span)}
    assert named, "etl_processes.md names no flag"
    assert named <= known, sorted(named - known)


def test_exit_codes_match_the_code() -> None:
    assert SourceFileError("f.csv", "bad").exit_code == ExitCode.BAD_INPUT == 2
    assert EtlError("bad").exit_code == 2
    assert DataQualityError("bad").exit_code == 3
    text = read("etl_processes.md")
    rows = [cells(line) for line in text.splitlines() if line.startswith("| `")]
    table = {r[0].strip("`"): r[1] for r in rows if re.fullmatch(r"`\d+`", r[0]) and len(r) > 1}
    assert sorted(table, key=int) == [str(int(c)) for c in ExitCode]
    assert "unbalanced" in table["1"].lower() or "UNBALANCED" in table["1"]
    assert "expectation" in table["3"]


def test_vacuum_default_is_the_code_default() -> None:
    assert f"{DEFAULT_VACUUM_RETENTION_HOURS} hours" in read("etl_processes.md")


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_environment_variables_exist(doc: str) -> None:
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("etl", "infrastructure", "tests")
        for p in (REPO / folder).rglob("*.py")
    )
    for name in set(re.findall(r"\bETL_[A-Z_]+\b", read(doc))):
        assert f'"{name}"' in code, name


# ---------------------------------------------------------------- tests: every doc


@pytest.mark.parametrize("doc", all_docs(), ids=lambda p: p.name)
def test_every_python_m_module_exists_and_runs_as_a_script(doc: Path) -> None:
    for module in set(PYTHON_M.findall(doc.read_text(encoding="utf-8"))):
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        assert 'if __name__ == "__main__":' in Path(spec.origin).read_text(encoding="utf-8"), module


@pytest.mark.parametrize("doc", all_docs(), ids=lambda p: p.name)
def test_every_mermaid_block_is_a_non_empty_diagram(doc: Path) -> None:
    for block in MERMAID.findall(doc.read_text(encoding="utf-8")):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        assert len(lines) >= 2, block
        assert lines[0].split()[0] in DIAGRAM_TYPES, lines[0]
        if lines[0] == "sequenceDiagram":  # Mermaid ends a message at a semicolon
            assert not [line for line in lines if ";" in line], block


def test_own_docs_have_their_diagrams() -> None:
    def kinds(doc: str) -> list[str]:
        return [b.split()[0] for b in MERMAID.findall(read(doc))]

    assert {"flowchart", "sequenceDiagram"} <= set(kinds("architecture.md"))
    assert "erDiagram" in kinds("data_model.md")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def link_targets(doc: Path) -> list[tuple[Path, str]]:
    """(base folder, target) of every link outside code blocks.

    A section opened by `<!-- README snippet` and closed by a `---` rule is written for
    README.md, so its links are relative to the repository root.
    """
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
    snippet = re.compile(r"<!-- README snippet.*?^---$", re.MULTILINE | re.DOTALL)
    found = [(REPO, t) for part in snippet.findall(text) for t in LINK.findall(part)]
    return found + [(doc.parent, t) for t in LINK.findall(snippet.sub("", text))]


@pytest.mark.parametrize("doc", all_docs(), ids=lambda p: p.name)
def test_every_relative_link_resolves(doc: Path) -> None:
    for base, target in link_targets(doc):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        path = (base / file).resolve() if file else doc
        assert path.exists(), f"{doc.name}: {target}"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{doc.name}: {target}"


def test_own_docs_exist_and_link_each_other() -> None:
    for doc in OWN_DOCS:
        others = [d for d in OWN_DOCS if d != doc]
        text = read(doc)
        assert any(f"({d}" in text for d in others), f"{doc} links none of {others}"


def test_code_tables_helper_sees_the_audit_tables() -> None:
    """The regex over etl/ must keep finding the audit tables, or the checks above go blind."""
    ctx = SimpleNamespace(path=lambda layer, name: f"{layer}/{name}")
    from etl.bronze.ledger import ledger_path

    from etl.audit import runs_path

    assert {runs_path(ctx), ledger_path(ctx), "_audit/dq_results"} <= code_tables()
