"""The Glue entry point (infrastructure/glue/run_job.py).

Its arguments, job list and settings come from etl (registry, settings). Under `spark-submit`
with the stand-in `awsglue` of tests/infrastructure/glue_stub (the platform: its own master,
Delta's jars and settings), three runs, one per layer as the state machine starts them, must
leave the platform's session as the platform made it, init and commit Glue's job once each, and
write the same tables as the in-process pipeline. A failed expectation must fail the run as a
`DataQualityError` (the entry point's `main` in this process, over the stand-in's context).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pyspark.sql import functions as F

from etl.accounting import balances
from etl.errors import ConfigurationError, DataQualityError, EtlError, SourceFileError
from etl.registry import JOB_NAMES, JOBS, LAYERS, select_jobs
from etl.runner import JobContext
from etl.settings import LOCAL_SPARK_CONF, Backend
from tests.conftest import SAMPLE_DATA, lakehouse_context
from tests.etl.conftest import DATA_TABLES, assert_same_tables, stored
from tests.infrastructure.glue_platform import (
    BATCH_ID,
    GLUE_STUB,
    MASTER,
    PLATFORM_CONF,
    RECORD_ENV,
    GlueBatch,
    Submitted,
    glue_argv,
    read_record,
    stub_env,
)
from tests.infrastructure.support import REPO, RUN_JOB


@pytest.fixture(scope="module")
def run_job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_job", RUN_JOB)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------- arguments and plans


def test_awsglue_is_not_importable_here() -> None:
    """The argparse fallback is what the in-process tests exercise; spark-submit runs below put
    the stand-in on PYTHONPATH."""
    assert importlib.util.find_spec("awsglue") is None


def test_resolves_glue_arguments_without_awsglue(run_job: ModuleType) -> None:
    files = "s3://landing/raw/2025-04/orders.csv,s3://landing/raw/2025-04/x.xlsx"
    args = run_job.resolve_arguments(glue_argv("bronze", "s3://lakehouse", files=files))
    assert args == {
        "JOB_NAME": "lakehouse-test-etl",
        "etl_jobs": "bronze",
        "batch_id": BATCH_ID,
        "source_dir": str(SAMPLE_DATA),
        "lakehouse_dir": "s3://lakehouse",
        "files": files,
    }
    settings = run_job.settings_for(run_job.plan("bronze"), args)
    assert settings.backend == "delta-spark"
    assert settings.files == tuple(files.split(","))
    assert (settings.batch_id, settings.lakehouse_dir) == (BATCH_ID, "s3://lakehouse")


def test_a_missing_argument_is_a_configuration_error(run_job: ModuleType) -> None:
    with pytest.raises(ConfigurationError, match="required: --batch_id"):
        run_job.resolve_arguments(["run_job.py", "--etl_jobs", "silver"])


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_runs_the_registry_jobs_of_that_layer(run_job: ModuleType, layer: str) -> None:
    plan = run_job.plan(layer)
    assert [j.name for j in plan.jobs] == [j.name for j in JOBS if j.layer == layer]
    assert plan.jobs == tuple(select_jobs(layer))
    assert not plan.maintenance


def test_job_names_and_lists_are_the_registry_s(run_job: ModuleType) -> None:
    for name in JOB_NAMES:
        assert [j.name for j in run_job.plan(name).jobs] == [name]
    both = run_job.plan("gold.daily_sales,silver.orders")
    assert [j.name for j in both.jobs] == ["silver.orders", "gold.daily_sales"]
    # No job list of its own: no string in its code is a job name.
    tree = ast.parse(RUN_JOB.read_text())
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert not strings & set(JOB_NAMES)


def test_maintenance_is_a_run_of_its_own(run_job: ModuleType) -> None:
    plan = run_job.plan("maintenance")
    assert plan.maintenance and plan.jobs == ()
    assert "lakehouse_dir" in plan.options and "source_dir" not in plan.options


def test_an_unknown_selector_is_refused_with_the_valid_ones(run_job: ModuleType) -> None:
    with pytest.raises(ConfigurationError) as caught:
        run_job.plan("platinum")
    message = str(caught.value)
    assert message.startswith("--etl_jobs='platinum' is not valid: unknown job or layer")
    assert all(name in message for name in (*LAYERS, *JOB_NAMES, "maintenance"))


def test_bad_values_are_named_by_their_glue_argument(run_job: ModuleType) -> None:
    args = run_job.resolve_arguments(glue_argv("silver"))
    with pytest.raises(ConfigurationError, match=r"^--batch_id='b 1' is not valid"):
        run_job.settings_for(run_job.plan("silver"), {**args, "batch_id": "b 1"})
    with pytest.raises(ConfigurationError, match=r"^--lakehouse_dir='' is not valid"):
        run_job.settings_for(run_job.plan("gold"), {**args, "lakehouse_dir": ""})


@pytest.mark.parametrize(
    "error",
    [
        DataQualityError("silver.orders: expectation failed\n(observed 0)"),
        SourceFileError("orders.xlsx", "missing column", sheet="2025-04-01", row=1),
        ConfigurationError("--etl_jobs='x' is not valid"),
    ],
)
def test_a_failure_is_named_after_its_error_on_one_line(
    run_job: ModuleType, error: EtlError
) -> None:
    failure = run_job.failure(error)
    assert isinstance(failure, run_job.GlueRunFailed)
    assert type(failure).__name__ == type(error).__name__
    assert str(failure) == " ".join(str(error).split())
    assert str(type(failure)(str(failure))) == str(failure)  # re-raisable from its message


def test_a_bad_etl_jobs_value_fails_with_one_line_before_spark(tmp_path: Path) -> None:
    record = tmp_path / "calls.jsonl"
    done = subprocess.run(
        [sys.executable, str(RUN_JOB), *glue_argv("platinum", tmp_path / "lh")[1:]],
        env=stub_env(record),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("ConfigurationError: --etl_jobs='platinum' is not valid")
    assert read_record(record) == []  # Glue's job never initialised: Spark never started


# --------------------------------------------------------------------- spark-submit, for real


@dataclass
class GlueRuns:
    lakehouse: Path
    runs: dict[str, Submitted]
    reference: JobContext
    ctx: JobContext  # the spark-submit lakehouse, read in this process


@pytest.fixture(scope="module")
def glue_runs(glue_batch: GlueBatch, sample_lakehouses: dict[Backend, JobContext]) -> GlueRuns:
    """The session's three layer runs under spark-submit (tests/infrastructure/glue_platform.py,
    also the delta-spark sample lakehouse) and the reference: the sample data through the
    in-process pipeline (delta-rs, validated)."""
    return GlueRuns(
        glue_batch.lakehouse,
        glue_batch.runs(),
        sample_lakehouses["delta-rs"],
        sample_lakehouses["delta-spark"],
    )


def test_each_layer_run_succeeds_and_inits_and_commits_glue_s_job_once(
    glue_runs: GlueRuns,
) -> None:
    assert list(glue_runs.runs) == list(LAYERS)
    for layer, run in glue_runs.runs.items():
        assert run.done.returncode == 0, f"{layer}:\n{run.ending()}"
        assert [c["call"] for c in run.calls] == ["init", "commit"], layer
        init = run.calls[0]
        assert init["job_name"] == "lakehouse-test-etl"
        assert init["args"]["etl_jobs"] == layer and init["args"]["batch_id"] == BATCH_ID
        assert ("files" in init["args"]) == (layer == "bronze")


def setting(snapshot: dict[str, Any], key: str) -> str | None:
    """A setting as the session has it: SQL settings first, then the SparkConf."""
    value = snapshot["sql_set"].get(key, snapshot["spark_conf"].get(key))
    return None if value is None else str(value)


# Settings Spark fills in itself on any session (its JVM options): the laptop's value must not
# show among them; every other laptop setting must be absent altogether.
SPARK_FILLED = ("spark.driver.extraJavaOptions",)


def laptop_applied(key: str, platform: str | None, laptop: str) -> bool:
    if platform is None:
        return False
    if key in SPARK_FILLED:
        return bool(set(laptop.split()) & set(platform.split()))
    return True


def test_the_platform_session_is_left_as_the_platform_made_it(glue_runs: GlueRuns) -> None:
    laptop_only = {k: v for k, v in LOCAL_SPARK_CONF.items() if k not in PLATFORM_CONF}
    assert "spark.driver.memory" in laptop_only
    assert "spark.driver.extraJavaOptions" in laptop_only
    assert "spark.sql.shuffle.partitions" not in laptop_only
    for layer, run in glue_runs.runs.items():
        init, commit = (c["session"] for c in run.calls)
        assert commit["master"] == MASTER, layer
        assert commit["app_name"] == PLATFORM_CONF["spark.app.name"], layer
        for key, value in PLATFORM_CONF.items():
            assert setting(commit, key) == value, (layer, key)
        for key, laptop in laptop_only.items():  # the laptop profile was never applied
            for snapshot in (init, commit):
                found = setting(snapshot, key)
                assert not laptop_applied(key, found, laptop), (layer, key, found)
        # Nothing the platform set changed during the run.
        assert commit["spark_conf"] == init["spark_conf"], layer
        changed = {k for k, v in init["sql_set"].items() if commit["sql_set"].get(k) != v}
        assert not changed, (layer, changed)


@pytest.mark.parametrize("table", DATA_TABLES)
def test_tables_equal_what_the_in_process_pipeline_writes(glue_runs: GlueRuns, table: str) -> None:
    """Production's path (the Glue entry point on delta-spark) against the laptop's (the
    in-process pipeline on delta-rs), row for row: both backends give the same tables on the
    sample data."""
    reference, ctx = glue_runs.reference, glue_runs.ctx
    assert_same_tables(stored(ctx, table), stored(reference, table))


def test_every_input_row_is_accounted_for(glue_runs: GlueRuns) -> None:
    actual = balances(glue_runs.ctx)
    assert all(b.balanced for b in actual), actual
    assert actual == balances(glue_runs.reference)
    printed = glue_runs.runs["silver"].lines("orders ")  # the run's accounting
    assert printed and printed[-1].endswith(" ok")


@pytest.fixture
def copied_lakehouse(glue_runs: GlueRuns, tmp_path: Path) -> Iterator[JobContext]:
    """A copy of the spark-submit lakehouse, read and written through delta-spark here."""
    lakehouse = shutil.copytree(glue_runs.lakehouse, tmp_path / "lakehouse")
    yield lakehouse_context(glue_runs.ctx.spark, SAMPLE_DATA, lakehouse, "delta-spark")


@pytest.fixture
def glue_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The stand-in `awsglue` importable in this process, its calls recorded in the file
    yielded; gone again afterwards (modules, path and the traceback limit a failure sets)."""
    record = tmp_path / "calls.jsonl"
    monkeypatch.syspath_prepend(str(GLUE_STUB))
    monkeypatch.setenv(RECORD_ENV, str(record))
    monkeypatch.setattr(sys, "tracebacklimit", 1000, raising=False)
    yield record
    for name in [m for m in sys.modules if m == "awsglue" or m.startswith("awsglue.")]:
        del sys.modules[name]


def test_a_failed_expectation_fails_the_run_with_data_quality_error(
    run_job: ModuleType, copied_lakehouse: JobContext, glue_here: Path
) -> None:
    """A new bronze batch whose every order silver must reject: silver.orders would publish no
    row, and its `table has rows` expectation (error severity) fails the run. The silver run is
    the entry point's `main` in this process, on Glue's context over this session (the
    stand-in's); how such a failure prints under spark-submit is
    test_a_bad_etl_jobs_value_fails_with_one_line_before_spark's."""
    ctx = copied_lakehouse
    bronze, silver = ctx.path("bronze/orders"), ctx.path("silver/orders")
    rejected = (
        ctx.store.read(bronze)
        .limit(1)
        .withColumn("order_id", F.lit("990001"))
        .withColumn("total_amount", F.lit("-5"))
    )
    rejected.write.format("delta").mode("append").save(bronze)
    before = ctx.store.version(silver)

    with pytest.raises(run_job.GlueRunFailed) as failed:
        run_job.main(glue_argv("silver", ctx.settings.lakehouse_dir))

    assert type(failed.value).__name__ == "DataQualityError"
    message = str(failed.value)
    assert message.startswith("silver.orders: ") and "\n" not in message, message
    assert "table has rows" in message
    assert sys.tracebacklimit == 0  # printed as one line, without a traceback
    assert [c["call"] for c in read_record(glue_here)] == ["init"]  # never committed
    assert ctx.store.version(silver) == before


def test_an_unbalanced_dataset_fails_the_run_naming_it(
    run_job: ModuleType, copied_lakehouse: JobContext
) -> None:
    """A product row in bronze that silver never saw: bronze has one row more than silver,
    quarantine and duplicates account for."""
    ctx = copied_lakehouse
    bronze = ctx.path("bronze/products")
    extra = ctx.store.read(bronze).limit(1).withColumn("product_id", F.lit("990001"))
    extra.write.format("delta").mode("append").save(bronze)
    with pytest.raises(EtlError, match=r"^accounting does not balance after silver: products: "):
        run_job.check_balances(ctx, run_job.plan("silver").jobs)
    assert run_job.check_balances(ctx, run_job.plan("silver.orders").jobs)[0].balanced


# --------------------------------------------------------------------------------- import rule


def imports_of(path: Path) -> list[tuple[str, ast.AST, list[ast.AST]]]:
    """(module, import node, its ancestors) for every import in a Python file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, ast.AST, list[ast.AST]]] = []

    def visit(node: ast.AST, parents: list[ast.AST]) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node, parents) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node, parents))
        for child in ast.iter_child_nodes(node):
            visit(child, [*parents, node])

    visit(tree, [])
    return found


def test_glue_only_imports_stay_in_the_entry_point() -> None:
    glue_only = ("awsglue", "pyspark.context.GlueContext")
    for path in [
        *REPO.joinpath("etl").rglob("*.py"),
        *REPO.joinpath("infrastructure").rglob("*.py"),
    ]:
        for module, _node, parents in imports_of(path):
            if not module.startswith(glue_only):
                continue
            assert path == RUN_JOB, f"{path} imports {module}"
            # ...and there only inside a try, so the file runs where awsglue is missing.
            assert any(isinstance(p, ast.Try) for p in parents), "awsglue import outside a try"
