"""Keep docs/ honest: tables, columns, keys, layout, jobs, commit labels, modules, flags, tests,
links, diagrams, variables, exit codes and run figures against the code.

Schemas come from the code itself: the bronze, silver and quarantine transforms and the gold
`build` functions applied to empty DataFrames (Spark only analyses the plans, nothing runs),
and the audit tables' declared schemas. The run figures come from the sample lakehouse the
test session builds (tests/conftest.py) and a second run over a copy of it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import re
import shutil
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import registry
from etl.accounting import balances
from etl.audit import AUDIT, LEDGER_SCHEMA, RUNS_SCHEMA
from etl.bookkeeping import DATA, MAINTENANCE, MARK, RESTORE
from etl.bronze.ingest import BRONZE_KEY, add_metadata, text_schema
from etl.cli import new_context
from etl.contracts import CONTRACTS
from etl.errors import DataQualityError, EtlError, ExitCode, SourceFileError
from etl.gold.job import GoldJob, GoldTable
from etl.maintenance import maintained_tables
from etl.pipeline import run_pipeline
from etl.quality.row_rules import check, rejected_rows, valid_rows
from etl.quality.validate import RESULTS_KEY, RESULTS_SCHEMA
from etl.runner import AUDIT_TABLES, JobContext
from etl.settings import DEFAULT_VACUUM_RETENTION_HOURS, Settings
from etl.silver.conform import latest_per_key, to_quarantine, to_silver
from etl.silver.job import QUARANTINE_KEY, REJECTS, RELEASE
from tests.conftest import SAMPLE_DATA
from tests.docs import summaries

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
TEST_NAME = re.compile(r"`(test_\w+)`")


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def all_docs() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def cells(line: str) -> list[str]:
    return [c.strip().replace(r"\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


# ---------------------------------------------------------------- the code's tables


def code_tables() -> set[str]:
    """Every table the code writes: the registry's."""
    return set(registry.all_tables())


def gold_tables() -> dict[str, GoldTable]:
    tables = {}
    for name in registry.gold_tables():
        job = registry.runnable(f"gold.{name}")
        assert isinstance(job, GoldJob), name
        tables[name] = job.table
    return tables


def columns(df: DataFrame) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def code_schemas(spark: SparkSession) -> dict[str, list[tuple[str, str]]]:
    """(column, Spark SQL type) of every table, from the transforms that produce it."""
    schemas: dict[str, list[tuple[str, str]]] = {}
    silver: dict[str, DataFrame] = {}
    for dataset, contract in CONTRACTS.items():  # products and orders before order_items
        raw = spark.createDataFrame([], text_schema(contract.source_columns))
        bronze = raw.transform(add_metadata(contract.source_columns, "batch", datetime(2025, 1, 1)))
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
    for name, table in gold_tables().items():
        schemas[f"gold/{name}"] = columns(table.build(silver))
    for table, schema in (
        ("_audit/runs", RUNS_SCHEMA),
        ("_audit/ingested_files", LEDGER_SCHEMA),
        ("_audit/dq_results", RESULTS_SCHEMA),
    ):
        schemas[table] = [(f.name, f.dataType.simpleString()) for f in schema.fields]
    return schemas


@pytest.fixture(scope="module")
def schemas(spark: SparkSession) -> dict[str, list[tuple[str, str]]]:
    return code_schemas(spark)


def test_every_table_literal_in_the_code_is_a_registry_table() -> None:
    """The registry must know every table the code names, or the checks below go blind."""
    assert set(AUDIT_TABLES) <= code_tables()
    literal = re.compile(r"[\"'](" + "|".join(LAYERS) + r")/(\w+)[\"']")
    named = set()
    for source in (REPO / "etl").rglob("*.py"):
        named |= {f"{a}/{b}" for a, b in literal.findall(source.read_text(encoding="utf-8"))}
    assert named, "the pattern finds no table in etl/"
    assert named <= code_tables(), sorted(named - code_tables())


# ---------------------------------------------------------------- data_model.md parsing


def sections(text: str) -> dict[str, str]:
    """`### \\`layer/name\\`` heading → the text up to the next heading of level 1-3."""
    found = {}
    for match in SECTION.finditer(text):
        rest = text[match.end() :]
        end = re.search(r"^#{1,3} ", rest, re.MULTILINE)
        found[match.group(1)] = rest[: end.start()] if end else rest
    return found


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


def code_key(table: str) -> tuple[str, ...] | None:
    """The merge key the code uses for a table; None where rows are only appended."""
    layer, name = table.split("/")
    keys: dict[str, tuple[str, ...]] = {
        "bronze": BRONZE_KEY.keys,
        "quarantine": QUARANTINE_KEY.keys,
        "silver": CONTRACTS[name].key if layer == "silver" else (),
        "gold": gold_tables()[name].key if layer == "gold" else (),
    }
    if table == "_audit/dq_results":
        return RESULTS_KEY.keys
    return keys.get(layer)


def test_keys_partitioning_and_zorder_match_the_code(
    model: dict[str, str], schemas: dict[str, list[tuple[str, str]]]
) -> None:
    layout = {table: (z, p) for table, _owner, z, p in maintained_tables()}
    outputs = {spec.output: spec for spec in registry.specs()}
    for table, section in model.items():
        zorder, partitions = layout[table]
        assert documented_property(section, "Z-order") == zorder, table
        assert documented_property(section, "partitioned by") == partitions, table
        if table in outputs:  # the layout the job declares is the one maintenance uses
            assert (outputs[table].zorder_by, outputs[table].partition_by) == (zorder, partitions)
        if table.startswith("silver/"):
            assert partitions == CONTRACTS[table.split("/")[1]].partition_by, table
        key = documented_property(section, "key")
        expected = code_key(table)
        if expected is not None:
            assert key == expected, table
        assert key and set(key) <= {c for c, _ in schemas[table]}, table


def test_every_table_has_the_change_data_feed_as_documented(
    model: dict[str, str], sample_lakehouses: dict[str, JobContext]
) -> None:
    """Every table of the sample lakehouse, written by either backend, has the change data
    feed on from its first commit, as data_model.md says of every table."""
    from etl.storage.base import CDF_PROPERTY

    assert f"`{CDF_PROPERTY}=true`" in read("data_model.md")
    for table, section in model.items():
        row = [line for line in section.splitlines() if line.startswith("| change data feed |")]
        assert row == ["| change data feed | on |"], table
    for backend, ctx in sample_lakehouses.items():
        for table in code_tables():
            log = Path(ctx.path(table)) / "_delta_log" / f"{0:020d}.json"
            if not log.exists():
                continue  # a table this run did not need (none on the sample data)
            actions = [json.loads(line) for line in log.read_text().splitlines()]
            metadata = [a["metaData"] for a in actions if "metaData" in a]
            assert metadata[0]["configuration"].get(CDF_PROPERTY) == "true", (backend, table)


def test_commit_kinds_in_data_model_match_the_code() -> None:
    """The first table of the section lists every kind of label the code writes."""
    text = read("data_model.md")
    section = text[text.index("## Commit labels") :]
    table = re.search(r"^\| kind \|.*?(?=^$)", section, re.MULTILINE | re.DOTALL)
    assert table is not None
    kinds = {cells(line)[0].strip("`") for line in table.group(0).splitlines()[2:]}
    assert kinds == {DATA, MARK, RESTORE, MAINTENANCE, REJECTS, RELEASE, AUDIT}


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


def test_jobs_table_in_etl_processes_is_the_registry() -> None:
    text = read("etl_processes.md")
    rows = [cells(line) for line in text.splitlines() if re.match(r"^\| `\w+\.\w+` \| \[", line)]

    def tables(cell: str) -> tuple[str, ...]:
        return tuple(re.findall(r"`([\w/]+)`", cell))

    documented = [
        (
            row[0].strip("`"),
            re.findall(r"\((\.\./[^)]+)\)", row[1])[0],
            tables(row[2]),
            tables(row[3]),
        )
        for row in rows
    ]
    expected = [
        (s.name, "../" + s.module.replace(".", "/") + ".py", s.reads, s.writes)
        for s in registry.specs()
    ]
    assert documented == expected


def help_text(main: Callable[[list[str]], object], argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(argv)
    return out.getvalue()


COMMANDS = (
    "etl.pipeline",
    "etl.maintenance",
    "etl.restore",
    "etl.query",
    "etl.bronze.orders_etl",
    "etl.silver.orders_etl",
    "etl.gold.daily_sales_etl",
)


def test_flags_in_etl_processes_exist() -> None:
    spec = importlib.util.spec_from_file_location(
        "run_job", REPO / "infrastructure" / "glue" / "run_job.py"
    )
    assert spec is not None and spec.loader is not None
    run_job = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = run_job  # its dataclasses look their module up there
    spec.loader.exec_module(run_job)
    texts = [help_text(importlib.import_module(m).main, ["--help"]) for m in COMMANDS]
    texts.append(help_text(run_job._parse_locally, ["run_job.py", "--help"]))
    known = set(re.findall(r"--[a-z][\w-]*", "\n".join(texts)))
    text = read("etl_processes.md")
    spans = re.findall(r"`([^`\n]+)`", text) + MERMAID.findall(text)
    spans += re.findall(r"^```(?:bash|console|text)?\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    named = {flag for span in spans for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", span)}
    assert named, "etl_processes.md names no flag"
    assert named <= known, sorted(named - known)


def test_every_flag_of_the_commands_is_documented() -> None:
    texts = [help_text(importlib.import_module(m).main, ["--help"]) for m in COMMANDS[:3]]
    texts += [help_text(importlib.import_module(m).main, ["--help"]) for m in COMMANDS[4:]]
    flags = set(re.findall(r"--[a-z][\w-]*", "\n".join(texts))) - {"--help"}
    text = read("etl_processes.md")
    assert {f for f in flags if f"`{f}`" not in text} == set()


def test_exit_codes_match_the_code() -> None:
    assert SourceFileError("f.csv", "bad").exit_code == ExitCode.BAD_INPUT == 2
    assert EtlError("bad").exit_code == 2
    assert DataQualityError("bad").exit_code == 3
    text = read("etl_processes.md")
    rows = [cells(line) for line in text.splitlines() if line.startswith("| `")]
    table = {r[0].strip("`"): r[1] for r in rows if re.fullmatch(r"`\d+`", r[0]) and len(r) > 1}
    assert sorted(table, key=int) == [str(int(c)) for c in ExitCode]
    assert "unbalanced" in table["1"].lower()
    assert "expectation" in table["3"]
    assert "bug" in table[str(int(ExitCode.INTERNAL_ERROR))]


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


# ---------------------------------------------------------------- tests: run figures


@pytest.fixture(scope="module")
def second_run(
    sample_lakehouse: JobContext, spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[JobContext, list[summaries.JobFigures], dict[str, int], dict[str, int]]:
    """The sample data run again over a copy of the sample lakehouse: the context, the
    figures, and every table's version before and after."""
    copy = tmp_path_factory.mktemp("docs-second-run") / "lh"
    shutil.copytree(sample_lakehouse.settings.lakehouse_dir, copy)
    settings = Settings(source_dir=str(SAMPLE_DATA), lakehouse_dir=str(copy))
    ctx = new_context(settings, spark)

    def versions() -> dict[str, int]:
        return {
            t: ctx.store.version(ctx.path(t))
            for t in code_tables()
            if ctx.store.exists(ctx.path(t))
        }

    before = versions()
    results = run_pipeline(ctx)
    assert {r.status for r in results} == {"nothing new"}
    return ctx, summaries.from_results(results), before, versions()


def test_the_documented_runs_are_those_of_the_sample_data(
    sample_lakehouse: JobContext,
    second_run: tuple[JobContext, list[summaries.JobFigures], dict[str, int], dict[str, int]],
) -> None:
    """etl_processes.md shows a second run (nothing new) and a first run of the sample data;
    their counts are what the code gives."""
    ctx, second, before, after = second_run
    first_runs = ctx.store.read_rows(sample_lakehouse.path("_audit/runs"))
    (run_id,) = {r["run_id"] for r in first_runs}
    first = summaries.from_runs(first_runs, run_id)
    accounts = summaries.from_balances(balances(sample_lakehouse))

    shown = summaries.summaries(read("etl_processes.md"))
    assert [s.jobs for s in shown] == [first, second]
    assert [s.balances for s in shown] == [accounts, accounts]
    assert after == before  # the second run committed nothing, audit tables included
    assert [j for j, *_ in first] == list(registry.job_names())


# ---------------------------------------------------------------- tests: every doc


@pytest.mark.parametrize("doc", all_docs(), ids=lambda p: p.name)
def test_every_python_m_module_exists_and_runs_as_a_script(doc: Path) -> None:
    for module in set(PYTHON_M.findall(doc.read_text(encoding="utf-8"))):
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        assert 'if __name__ == "__main__":' in Path(spec.origin).read_text(encoding="utf-8"), module


def defined_tests() -> set[str]:
    names = set()
    for source in (REPO / "tests").rglob("test_*.py"):
        names |= set(re.findall(r"^\s*def (test_\w+)", source.read_text(encoding="utf-8"), re.M))
    return names


@pytest.mark.parametrize("doc", [*OWN_DOCS, "data_quality.md"])
def test_every_test_named_in_the_docs_exists(doc: str) -> None:
    named = set(TEST_NAME.findall(read(doc)))
    assert named <= defined_tests(), sorted(named - defined_tests())


def test_every_requirement_says_where_it_is_implemented_and_tested() -> None:
    rows = [cells(line) for line in read("requirements.md").splitlines()]
    requirements = [r for r in rows if re.fullmatch(r"N?FR-\d+", r[0])]
    assert len(requirements) >= 20
    for row in requirements:
        assert len(row) == 4 and row[2] and row[3], row[0]


@pytest.mark.parametrize("doc", all_docs(), ids=lambda p: p.name)
def test_every_mermaid_block_is_a_non_empty_diagram(doc: Path) -> None:
    for block in MERMAID.findall(doc.read_text(encoding="utf-8")):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        assert len(lines) >= 2, block
        assert lines[0].split()[0] in DIAGRAM_TYPES, lines[0]
        if lines[0] == "sequenceDiagram":  # Mermaid ends a message at a semicolon
            assert not [line for line in lines if ";" in line], block
        if lines[0].split()[0] in ("flowchart", "graph"):  # a node label left open
            opened = sum(line.count("[") + line.count("(") + line.count("{") for line in lines)
            closed = sum(line.count("]") + line.count(")") + line.count("}") for line in lines)
            assert opened == closed, f"unbalanced brackets in a diagram of {doc.name}"


def test_own_docs_have_their_diagrams() -> None:
    def kinds(doc: str) -> list[str]:
        return [b.split()[0] for b in MERMAID.findall(read(doc))]

    assert kinds("architecture.md").count("flowchart") >= 2
    assert "sequenceDiagram" in kinds("architecture.md")  # the flow of one row
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


@pytest.mark.parametrize("doc", [*all_docs(), REPO / "README.md"], ids=lambda p: p.name)
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
