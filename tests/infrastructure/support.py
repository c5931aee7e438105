"""Paths, the job graph and small helpers shared by the infrastructure tests."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infrastructure"
TEMPLATES = sorted((INFRA / "templates").glob("*.yaml"))
MAIN_TEMPLATE = INFRA / "templates" / "lakehouse.yaml"
ASL_FILE = INFRA / "statemachine" / "pipeline.asl.json"
MAINTENANCE_ASL_FILE = INFRA / "statemachine" / "maintenance.asl.json"
ASL_FILES = (ASL_FILE, MAINTENANCE_ASL_FILE)
DEPLOY_SH = INFRA / "deploy.sh"
SMOKE_RUN_SH = INFRA / "smoke_run.sh"
RUN_JOB = INFRA / "glue" / "run_job.py"
# Console scripts of the uv environment the tests run in (cfn-lint, aws, moto_server).
VENV_BIN = Path(sys.executable).parent

GLUE_SYNC = "arn:aws:states:::glue:startJobRun.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

State = dict[str, Any]


def load_asl(path: Path = ASL_FILE) -> dict[str, Any]:
    asl: dict[str, Any] = json.loads(path.read_text())
    return asl


def load_template(path: Path = MAIN_TEMPLATE) -> dict[str, Any]:
    """A CloudFormation template with its short-form tags (!Ref, !Sub) decoded by cfn-lint."""
    from cfnlint.decode import decode

    template, errors = decode(str(path))
    assert not errors, errors
    assert template is not None
    return dict(template)


def iter_scopes(
    states: dict[str, State], enclosing: str | None = None
) -> Iterator[tuple[dict[str, State], str | None]]:
    """Every `States` object of a machine (top level, Map processors, Parallel branches),
    with the name of the Map/Parallel state that encloses it (None at the top level)."""
    yield states, enclosing
    for name, state in states.items():
        for inner in _inner_machines(state):
            yield from iter_scopes(inner["States"], name)


def _inner_machines(state: State) -> list[dict[str, Any]]:
    if state["Type"] == "Map":
        return [state.get("ItemProcessor") or state["Iterator"]]
    if state["Type"] == "Parallel":
        return list(state["Branches"])
    return []


def successors(state: State, *, with_catch: bool = True) -> list[str]:
    """States a state can hand over to."""
    nexts = [state["Next"]] if "Next" in state else []
    nexts += [choice["Next"] for choice in state.get("Choices", [])]
    if "Default" in state:
        nexts.append(state["Default"])
    if with_catch:
        nexts += [catcher["Next"] for catcher in state.get("Catch", [])]
    return nexts


# --------------------------------------------------------------------------- the smoke run
# What smoke_run.sh uploads, and how the real pipeline ends for it: test_smoke_run's moto
# stand-ins answer so, and test_pipeline_runs checks pipeline.asl.json answers exactly so.
SAMPLE_DATA = REPO / "data"  # the sample files the README's run command loads
SAMPLE_FILES = sorted(
    p.name for p in SAMPLE_DATA.iterdir() if p.suffix in (".csv", ".xlsx", ".xlsm", ".xls")
)
GOLD_ROW_COUNTS = {
    "daily_sales": 7,
    "product_performance": 1000,
    "department_analytics": 6,
    "customer_insights": 408,
}


def succeeded_output(batch_id: str, files: int) -> dict[str, Any]:
    """The output of the pipeline's Succeeded state for a batch given as a file list."""
    return {
        "status": "SUCCEEDED",
        "batch_id": batch_id,
        "files": files,
        "gold_row_counts": GOLD_ROW_COUNTS,
        "left_in_raw": [],
        "continued": False,
    }


# A failed Glue run as Step Functions reports a failed startJobRun.sync: the job run as JSON,
# with Glue's ErrorMessage (long, as Python tracebacks from Spark are).
GLUE_RUN_FAILED = json.dumps(
    {
        "JobName": "lakehouse-staging-etl",
        "JobRunState": "FAILED",
        "ErrorMessage": "Py4JJavaError: " + "at org.apache.spark.scheduler.DAGScheduler " * 60,
    }
)
# The execution's error and cause when the bronze layer's run failed twice (not on data quality).
LAYER_FAILED_ERROR = "Pipeline.TaskFailed"
LAYER_FAILED_CAUSE = f"bronze (attempt 2): {GLUE_RUN_FAILED}"


# --------------------------------------------------------------------------- moto and the aws CLI
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


def aws_env(**overrides: str) -> dict[str, str]:
    """The environment for the infrastructure scripts: the venv's aws CLI first on PATH, and no
    AWS settings of the machine (profiles, real credentials, instance metadata) leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION=REGION,
        # Nothing listens on port 9: a stray call fails fast instead of reaching AWS.
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
    )
    env.update(overrides)
    return env


def moto_credentials(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """A moto server on 127.0.0.1 for the duration of the block; yields its endpoint. Skips
    the calling test, with the reason, when the server is missing or does not start.

    The endpoint says "localhost": moto resolves a CloudFormation TemplateURL only when its
    host contains "localhost" (see test_deploy)."""
    server = VENV_BIN / "moto_server"
    if not server.exists():
        pytest.skip(f"moto_server is not installed next to {VENV_BIN}")
    port = free_port()
    log = log_dir / "moto.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"moto server did not start: {log.read_text()[-500:]}")
                time.sleep(0.2)
        yield f"http://localhost:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def boto_client(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# --------------------------------------------------------------------------- checkov
# The checkov release the project lints with, run through `uv tool run` outside the lock: adding
# it to the dev group resolves only by downgrading boto3/botocore (a runtime dependency),
# packaging and networkx, so it stays out.
CHECKOV = "checkov==3.3.30"


def checkov_command() -> list[str]:
    if shutil.which("checkov"):
        return ["checkov"]
    if shutil.which("uv"):
        return ["uv", "tool", "run", "--quiet", "--from", CHECKOV, "checkov"]
    pytest.skip("checkov is not installed and uv is not on PATH to run it")


# What checkov scans: every template (cloudformation) and every workflow (github_actions).
WORKFLOW_FILES = sorted((REPO / ".github" / "workflows").glob("*.yml"))
CHECKOV_FRAMEWORKS = {"cloudformation": TEMPLATES, "github_actions": WORKFLOW_FILES}


@functools.cache
def checkov_reports() -> dict[str, dict[str, Any]]:
    """checkov's JSON report per framework, from one run over the templates and the workflows
    (checkov takes most of its time starting up, so the two checks share one run); skips the
    calling test when checkov cannot be installed (no registry) or does not report."""
    files = [f.relative_to(REPO) for paths in CHECKOV_FRAMEWORKS.values() for f in paths]
    command = [
        *checkov_command(),
        *(arg for f in files for arg in ("--file", str(f))),
        "--framework", *CHECKOV_FRAMEWORKS,
        "--skip-download", "--output", "json", "--compact",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.skip("checkov did not install or run within 10 minutes")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        # uv could not install it (no registry access) or checkov crashed before reporting.
        pytest.skip(f"checkov unavailable: {(done.stderr or done.stdout).strip()[-300:]}")
    reports = report if isinstance(report, list) else [report]
    return {r["check_type"]: r for r in reports}


def checkov_scanned(report: dict[str, Any]) -> set[str]:
    """The files (repository paths) a checkov report has results for."""
    results = report["results"]
    checks = [c for kind in ("passed_checks", "failed_checks", "skipped_checks")
              for c in results[kind]]  # fmt: skip
    return {c["file_path"].lstrip("/") for c in checks}


# --------------------------------------------------------------------------- node tools
NODE_DIR = Path(__file__).resolve().parent / "node"


def node_tools() -> Path:
    """tests/infrastructure/node/node_modules, installed from its package-lock.json with `npm ci`
    when missing or stale; skips the calling test when node or npm is not available."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the reference JSONata and asl-validator")
    wanted: dict[str, str] = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    modules = NODE_DIR / "node_modules"

    def installed() -> bool:
        for name, version in wanted.items():
            manifest = modules / name / "package.json"
            if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
                return False
        return True

    if not installed():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0 or not installed():
            pytest.skip(f"npm ci failed in {NODE_DIR}: {(done.stderr or done.stdout)[-300:]}")
    return modules
