"""The README starts with the two commands, and everything it names exists."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.docs import summaries

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_run_and_the_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    assert blocks[:2] == [
        "pip install uv && uv run --no-dev python -m etl.pipeline\n",
        "pip install uv && bash scripts/test.sh\n",
    ]
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text()


def test_every_module_and_link_in_the_readme_exists() -> None:
    modules = set(re.findall(r"python -m (etl(?:\.\w+)+)", README))
    assert {"etl.pipeline", "etl.query", "etl.report", "etl.maintenance", "etl.restore"} <= modules
    assert all(importlib.util.find_spec(m) is not None for m in modules), modules
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links and all((REPO / link).exists() for link in links), links


def test_the_example_run_is_the_documented_run_of_the_sample_data() -> None:
    """The README's example output has the figures of the first run in etl_processes.md, which
    tests/docs/test_docs.py checks against a run of the sample data."""
    processes = (REPO / "docs" / "etl_processes.md").read_text(encoding="utf-8")
    (example,) = summaries.summaries(README)
    documented = summaries.summaries(processes)[0]
    assert example == documented
    assert len(example.jobs) == 10 and len(example.balances) == 3


def test_analytics_section_is_the_docs_snippet() -> None:
    doc = (REPO / "docs" / "analytics.md").read_text(encoding="utf-8")
    start = doc.index("## Analytics")
    snippet = doc[start : doc.index("\n---\n", start)].strip()
    assert snippet in README
    assert Path(REPO / "scripts" / "generate_sample_data.py").is_file()


DEV_TOOLS = {"pytest", "chispa", "ruff", "mypy", "cfn-lint", "moto", "awscli", "pillow"}


def locked_packages(*flags: str) -> set[str]:
    """The packages uv installs from uv.lock with these flags (names only)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-header", "--no-annotate", *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    lines = [line.strip() for line in exported.splitlines()]
    return {re.split(r"[=<>~;\s\[]", line)[0].lower() for line in lines if line[:1].isalnum()}


def test_the_run_command_installs_only_what_the_pipeline_needs() -> None:
    run_command = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)[0]
    uv_run = shlex.split(run_command.split("&&")[1])
    assert uv_run[:2] == ["uv", "run"]
    flags = [arg for arg in uv_run[2 : uv_run.index("python")] if arg.startswith("--")]

    runtime = locked_packages(*flags)
    everything = locked_packages()  # scripts/test.sh: `uv sync --frozen`, the dev group included

    assert runtime & DEV_TOOLS == set()
    assert {"pyspark", "delta-spark", "deltalake", "great-expectations", "duckdb"} <= runtime
    assert everything >= DEV_TOOLS
