"""What a Glue run installs: infrastructure/glue/requirements.txt against uv.lock, Glue 5.0's
provided modules and the imports of the Glue path."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infrastructure.support import REPO, load_template

sys.path.insert(0, str(REPO / "scripts"))
import render_glue_requirements as glue

sys.path.pop(0)

# Modules of etl that only the local path imports (the delta-rs backend, local SQL).
LOCAL_ONLY = {"etl/storage/delta_rs_store.py", "etl/query.py"}
LOCAL_ONLY_DIRS = ("etl/analytics/",)


def pins() -> dict[str, str]:
    lines = glue.REQUIREMENTS.read_text().splitlines()
    found = {}
    for line in lines:
        if line and not line.startswith("#"):
            name, version = line.split("==")
            found[canonicalize_name(name)] = version
    return found


def test_the_file_is_rendered_from_uv_lock() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "render_glue_requirements.py"), "--check"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_drift_from_the_lock_is_caught() -> None:
    lock = (REPO / "uv.lock").read_text()
    version = glue.locked_packages(lock)["python-calamine"]["version"]
    drifted = lock.replace(
        f'name = "python-calamine"\nversion = "{version}"',
        'name = "python-calamine"\nversion = "0.0.1"',
    )
    assert drifted != lock
    assert glue.render(drifted) != glue.REQUIREMENTS.read_text()


def test_every_pin_is_the_locked_version_and_nothing_glue_provides() -> None:
    locked = glue.locked_packages((REPO / "uv.lock").read_text())
    found = pins()
    assert {"python-calamine", "great-expectations"} <= set(found)
    for name, version in found.items():
        assert locked[name]["version"] == version, name
        assert name not in glue.GLUE_50_PROVIDED, name
    # Not needed on Glue: the delta-rs backend, local SQL, the Spark/Delta pip packages.
    assert not {"deltalake", "duckdb", "sqlglot", "pyspark", "delta-spark", "openpyxl"} & set(found)


def test_glue_provided_versions_meet_every_requirement_of_what_is_installed() -> None:
    """pip keeps a provided module when it satisfies the requirement; otherwise the module
    would have to be pinned here. Checked against each installed package's declared
    requirements (the same versions as uv.lock, installed by `uv sync --frozen`)."""
    found = pins()
    environment = glue.GLUE_ENVIRONMENT
    for name in found:
        distribution = metadata.distribution(name)
        assert canonicalize_name(distribution.metadata["Name"]) == name
        assert distribution.version == found[name], f"{name}: run `uv sync --frozen`"
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency in glue.GLUE_50_PROVIDED:
                provided = glue.GLUE_50_PROVIDED[dependency]
                assert requirement.specifier.contains(provided, prereleases=True), (
                    f"{name} needs {requirement}, Glue 5.0 has {provided}"
                )
            else:
                assert dependency in found, f"{name} needs {dependency}, which is not listed"


def test_the_etl_project_accepts_glue_provided_versions() -> None:
    """pandas, numpy, pyarrow and boto3 come from Glue; the project's own ranges admit them."""
    for text in metadata.requires("etl") or []:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name in ("pandas", "numpy", "pyarrow", "boto3"):
            assert requirement.specifier.contains(glue.GLUE_50_PROVIDED[name]), requirement


def test_every_import_of_the_glue_path_is_installed_or_provided() -> None:
    distributions = metadata.packages_distributions()
    available = set(pins()) | set(glue.GLUE_50_PROVIDED)
    stdlib = set(sys.stdlib_module_names)
    missing = []
    for path in sorted((REPO / "etl").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in LOCAL_ONLY or rel.startswith(LOCAL_ONLY_DIRS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for module in names:
                top = module.split(".")[0]
                if top in stdlib or top in ("etl", "__future__"):
                    continue
                dists = {canonicalize_name(d) for d in distributions.get(top, [top])}
                if not dists & available:
                    missing.append(f"{rel}: {module}")
    assert not missing, missing


def test_the_glue_job_installs_the_file() -> None:
    resources = load_template()["Resources"]
    [job] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Glue::Job"]
    args = job["DefaultArguments"]
    assert args["--additional-python-modules"]["Fn::Sub"].endswith("/requirements.txt")
    assert args["--python-modules-installer-option"] == "-r"
    assert args["--datalake-formats"] == "delta"
    assert Path(glue.REQUIREMENTS).name == "requirements.txt"
