"""What a Glue run installs: infrastructure/glue/requirements.txt against uv.lock, Glue 5.0's
provided modules and the imports of the Glue path."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import json
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
LOCAL_ONLY = {
    "etl/storage/delta_rs_store.py",
    "etl/storage/adopted_files.py",
    "etl/query.py",
    "etl/report.py",  # the local dashboard, on DuckDB
}
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


def on_glue() -> set[str]:
    """The distributions a Glue run has: Glue 5.0's and the requirements file's."""
    return set(pins()) | set(glue.GLUE_50_PROVIDED)


def glue_path_files() -> list[Path]:
    """The modules of etl that the Glue path may import (all but the local-only ones)."""
    return [
        path
        for path in sorted((REPO / "etl").rglob("*.py"))
        if path.relative_to(REPO).as_posix() not in LOCAL_ONLY
        and not path.relative_to(REPO).as_posix().startswith(LOCAL_ONLY_DIRS)
    ]


def test_every_import_of_the_glue_path_is_installed_or_provided() -> None:
    distributions = metadata.packages_distributions()
    available = on_glue()
    stdlib = set(sys.stdlib_module_names)
    missing = []
    for path in glue_path_files():
        rel = path.relative_to(REPO).as_posix()
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


def not_on_glue() -> list[str]:
    """Top-level modules installed here whose distributions a Glue run has neither from Glue
    5.0 nor from the requirements file (deltalake, duckdb, sqlglot, the test tools...)."""
    available = on_glue()
    return sorted(
        top
        for top, dists in metadata.packages_distributions().items()
        if top.isidentifier()
        and top not in sys.stdlib_module_names
        and top != "etl"
        and not {canonicalize_name(d) for d in dists} & available
    )


GLUE_IMPORT = """
import importlib, importlib.util, json, sys
blocked = set(json.loads(sys.argv[1]))
class NotOnGlue:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"No module named {name!r} (not installed on Glue)")
        return None
sys.meta_path.insert(0, NotOnGlue())
spec = importlib.util.spec_from_file_location("run_job", sys.argv[2])
module = importlib.util.module_from_spec(spec)
sys.modules["run_job"] = module
spec.loader.exec_module(module)
for name in json.loads(sys.argv[3]):
    importlib.import_module(name)
print("imported", len(json.loads(sys.argv[3])), "modules")
"""


def test_the_glue_entry_point_and_every_glue_module_import_with_glue_s_packages_only() -> None:
    """As on Glue, where the etl wheel comes on --extra-py-files without its dependencies: the
    entry point and every module of the Glue path import with only Glue 5.0's modules and the
    requirements file; a module only a local run installs (deltalake, ...) is refused."""
    blocked = not_on_glue()
    assert "deltalake" in blocked and "duckdb" in blocked, blocked  # the check can fail
    modules = [
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in glue_path_files()
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            GLUE_IMPORT,
            json.dumps(blocked),
            str(REPO / "infrastructure" / "glue" / "run_job.py"),
            json.dumps(modules),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"imported {len(modules)} modules" in done.stdout


def test_the_glue_job_installs_the_file() -> None:
    resources = load_template()["Resources"]
    [job] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Glue::Job"]
    args = job["DefaultArguments"]
    assert args["--additional-python-modules"]["Fn::Sub"].endswith("/requirements.txt")
    assert args["--python-modules-installer-option"] == "-r"
    assert args["--datalake-formats"] == "delta"
    assert Path(glue.REQUIREMENTS).name == "requirements.txt"
