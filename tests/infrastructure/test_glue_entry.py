"""The Glue entry point resolves job arguments locally too and maps them to the etl flags."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from etl.registry import JOB_NAMES
from tests.infrastructure.support import REPO, RUN_JOB


@pytest.fixture(scope="module")
def run_job() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_job", RUN_JOB)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What Glue puts in sys.argv besides the job's own arguments.
GLUE_NOISE = ["--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--job-bookmark-option",
              "job-bookmark-disable", "--TempDir", "s3://artifacts/glue-tmp/"]  # fmt: skip


def test_awsglue_is_not_importable_here() -> None:
    """The local fallback is what these tests exercise."""
    assert importlib.util.find_spec("awsglue") is None


def test_resolves_glue_arguments_without_awsglue(run_job: ModuleType) -> None:
    files = "s3://landing/raw/2024-06/orders.csv,s3://landing/raw/2024-06/x.xlsx"
    argv = ["run_job.py", *GLUE_NOISE, "--etl_job", "bronze.orders", "--batch_id", "2024-06",
            "--source_dir", "s3://landing/raw", "--lakehouse_dir", "s3://lakehouse",
            "--files", files]  # fmt: skip
    args = run_job.resolve_arguments(argv)
    assert args == {
        "etl_job": "bronze.orders",
        "batch_id": "2024-06",
        "source_dir": "s3://landing/raw",
        "lakehouse_dir": "s3://lakehouse",
        "files": files,
    }
    assert run_job.etl_argv(args) == [
        "--source-dir", "s3://landing/raw",
        "--lakehouse-dir", "s3://lakehouse",
        "--backend", "delta-spark",
        "--batch-id", "2024-06",
        "--files", files,
    ]  # fmt: skip


def test_files_are_optional(run_job: ModuleType) -> None:
    argv = ["run_job.py", "--etl_job", "gold.daily_sales", "--batch_id", "b1",
            "--source_dir", "src", "--lakehouse_dir", "lake"]  # fmt: skip
    forwarded = run_job.etl_argv(run_job.resolve_arguments(argv))
    assert "--files" not in forwarded
    assert forwarded[forwarded.index("--backend") + 1] == "delta-spark"


def test_job_list_and_module_names(run_job: ModuleType) -> None:
    assert set(run_job.JOBS) == set(JOB_NAMES)
    assert run_job.module_name("silver.order_items") == "etl.silver.order_items_etl"
    with pytest.raises(ValueError, match="unknown job"):
        run_job.load_job("silver.nope")


def test_job_list_matches_etl_jobs(run_job: ModuleType) -> None:
    try:
        from etl.jobs import JOBS
    except ImportError as error:
        pytest.skip(f"etl.jobs is not importable yet: {error}")
    assert tuple(JOBS) == run_job.JOBS


@pytest.mark.parametrize("job", JOB_NAMES)
def test_each_job_module_has_a_main(run_job: ModuleType, job: str) -> None:
    name = run_job.module_name(job)
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        pytest.skip(f"{name} is not importable yet: {error}")
    assert callable(getattr(module, "main", None)), f"{name} has no main(argv)"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN_JOB), *args], capture_output=True, text=True, timeout=120
    )


def test_script_fails_without_required_arguments() -> None:
    done = run_script("--etl_job", "bronze.orders")
    assert done.returncode != 0
    assert "--batch_id" in done.stderr


def test_script_fails_on_an_unknown_job() -> None:
    done = run_script("--etl_job", "gold.nope", "--batch_id", "b", "--source_dir", "s",
                      "--lakehouse_dir", "l")  # fmt: skip
    assert done.returncode != 0
    assert "unknown job 'gold.nope'" in done.stderr


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
