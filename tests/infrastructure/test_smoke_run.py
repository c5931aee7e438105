"""smoke_run.sh: its dry run and error messages, and real runs with the aws CLI against moto.

Moto keeps state machines created through CloudFormation apart from the ones its ASL
interpreter runs (and gives the former no definition, see test_deploy), and its interpreter
evaluates no JSONata and runs no Glue `.sync` task, so these tests do not deploy the stack: they
create the landing bucket and a stand-in `<project>-<env>-pipeline` state machine under the
names the stack gives them, and switch moto's interpreter on. The stand-ins check the input the
script sends as the real pipeline's CheckBatch does (batch id, files under s3://<landing>/raw/)
and end as the real pipeline ends: with its Succeeded output, or with the error and cause of a
layer whose Glue run failed. test_pipeline_runs.py runs the real pipeline.asl.json on the same
input and checks that it answers exactly so.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.support import (
    ACCOUNT,
    LAYER_FAILED_CAUSE,
    LAYER_FAILED_ERROR,
    REGION,
    REPO,
    SAMPLE_FILES,
    SMOKE_RUN_SH,
    aws_env,
    boto_client,
    moto_credentials,
    moto_server,
    succeeded_output,
)


def smoke_run(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SMOKE_RUN_SH), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0, done.stdout
    assert len(lines) == 1, done.stderr
    return lines[0]


def landing(environment: str) -> str:
    return f"lakehouse-{environment}-{ACCOUNT}-{REGION}-landing"


# --------------------------------------------------------------------------- dry run and errors
def test_sample_data_has_the_three_source_files() -> None:
    assert len(SAMPLE_FILES) == 3, SAMPLE_FILES


def test_dry_run_prints_the_plan_and_touches_nothing() -> None:
    done = smoke_run("--dry-run", "--batch-id", "smoke-1", "dev", env=aws_env())
    assert done.returncode == 0, done.stderr
    prefix = "s3://lakehouse-dev-ACCOUNT_ID-eu-west-1-landing/raw/smoke-1"
    # One upload of exactly the source files (data/ also holds a test manifest).
    [upload] = [shlex.split(line[2:]) for line in done.stdout.splitlines() if " s3 cp " in line]
    filters = [arg for name in SAMPLE_FILES for arg in ("--include", name)]
    assert upload == [
        "aws", "--region", "eu-west-1", "s3", "cp", "--recursive", "--only-show-errors",
        f"{REPO}/data/", f"{prefix}/", "--exclude", "*", *filters,
    ]  # fmt: skip
    assert "_expected_quarantine.json" not in done.stdout
    machine = "arn:aws:states:eu-west-1:ACCOUNT_ID:stateMachine:lakehouse-dev-pipeline"
    assert f"stepfunctions start-execution --state-machine-arn {machine}" in done.stdout
    expected_input = {"batch_id": "smoke-1", "files": [f"{prefix}/{n}" for n in SAMPLE_FILES]}
    assert json.dumps(expected_input) in done.stdout
    assert "describe-execution" in done.stdout


def test_glob_characters_in_file_names_are_escaped(tmp_path: Path) -> None:
    (tmp_path / "orders [1]*?.csv").write_text("x")
    (tmp_path / "orders 1.csv").write_text("x")  # what an unescaped pattern would also match
    done = smoke_run("--dry-run", "--data-dir", str(tmp_path), "dev", env=aws_env())
    assert done.returncode == 0, done.stderr
    [upload] = [shlex.split(line[2:]) for line in done.stdout.splitlines() if " s3 cp " in line]
    assert upload[-4:] == ["--include", "orders 1.csv", "--include", "orders [[]1][*][?].csv"]


def test_missing_environment() -> None:
    assert "missing environment" in error_line(smoke_run(env=aws_env()))


def test_unknown_environment() -> None:
    line = error_line(smoke_run("qa", env=aws_env()))
    assert line.startswith("smoke_run.sh: error: no parameter file ")


def test_bad_batch_id() -> None:
    line = error_line(smoke_run("--dry-run", "--batch-id", "../x", "dev", env=aws_env()))
    assert "batch id '../x' must match" in line


def test_empty_data_dir(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a source file")
    line = error_line(smoke_run("--dry-run", "--data-dir", str(tmp_path), "dev", env=aws_env()))
    assert line.startswith("smoke_run.sh: error: no source files")


def test_missing_credentials() -> None:
    line = error_line(smoke_run("dev", env=aws_env()))
    assert line.startswith("smoke_run.sh: error: no usable AWS credentials (")


# --------------------------------------------------------------------------- moto integration
def accepts_input(environment: str) -> dict[str, Any]:
    """Passes what CheckBatch passes (batch id, every file under raw/), ends with Succeeded's
    output; anything else fails the execution."""
    raw = f"s3://{landing(environment)}/raw/*"
    return {
        "StartAt": "CheckBatch",
        "States": {
            "CheckBatch": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.batch_id", "IsPresent": True},
                            {"Variable": "$.files[0]", "StringMatches": raw},
                            *(
                                {"Variable": f"$.files[{i}]", "StringMatches": raw}
                                for i in range(1, len(SAMPLE_FILES))
                            ),
                        ],
                        "Next": "Succeeded",
                    }
                ],
                "Default": "RejectInput",
            },
            "Succeeded": {
                "Type": "Pass",
                "Parameters": {
                    **{
                        k: v
                        for k, v in succeeded_output("", 0).items()
                        if k not in ("batch_id", "files")
                    },
                    "batch_id.$": "$.batch_id",
                    "files.$": "States.ArrayLength($.files)",
                },
                "End": True,
            },
            "RejectInput": {"Type": "Fail", "Error": "InvalidInput", "Cause": "unexpected input"},
        },
    }


FAILS = {
    "StartAt": "RunLayers",
    "States": {
        "RunLayers": {"Type": "Fail", "Error": LAYER_FAILED_ERROR, "Cause": LAYER_FAILED_CAUSE}
    },
}
KEEPS_RUNNING = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}},
}
NOTHING_TO_DO = {
    "StartAt": "NothingToDo",
    "States": {
        "NothingToDo": {
            "Type": "Pass",
            "Result": {"status": "NOTHING_TO_DO", "batch_id": "", "files": 0},
            "End": True,
        }
    },
}
# Succeeds having processed one file fewer than it was given (continued in a next execution).
PROCESSED_PART = {
    "StartAt": "Succeeded",
    "States": {
        "Succeeded": {
            "Type": "Pass",
            "Result": {**succeeded_output("part", len(SAMPLE_FILES) - 1), "continued": True},
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
        request = urllib.request.Request(
            f"{endpoint}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()
        s3 = boto_client(endpoint, "s3")
        sfn = boto_client(endpoint, "stepfunctions")
        # One environment per outcome: dev succeeds, staging fails, prod keeps running; two
        # more projects succeed without processing anything, or only part of the files.
        machines = {
            ("lakehouse", "dev"): accepts_input("dev"),
            ("lakehouse", "staging"): FAILS,
            ("lakehouse", "prod"): KEEPS_RUNNING,
            ("idle", "dev"): NOTHING_TO_DO,
            ("part", "dev"): PROCESSED_PART,
        }
        for (project, environment), definition in machines.items():
            s3.create_bucket(
                Bucket=f"{project}-{environment}-{ACCOUNT}-{REGION}-landing",
                CreateBucketConfiguration={"LocationConstraint": REGION},
            )
            sfn.create_state_machine(
                name=f"{project}-{environment}-pipeline",
                definition=json.dumps(definition),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{project}-{environment}-pipeline",
            )
        yield endpoint


def moto_env(endpoint: str) -> dict[str, str]:
    return aws_env(**moto_credentials(endpoint))


@pytest.mark.integration
def test_uploads_the_sample_data_and_waits_for_success(moto: str, tmp_path: Path) -> None:
    # data/ also holds a test manifest (and a folder here): only the source files go up.
    data = tmp_path / "data"
    (data / "nested").mkdir(parents=True)
    for name in SAMPLE_FILES:
        (data / name).write_bytes((REPO / "data" / name).read_bytes())
    (data / "_expected_quarantine.json").write_text("{}")
    (data / "nested" / SAMPLE_FILES[0]).write_text("not part of the batch")
    done = smoke_run(
        "--batch-id", "smoke-test", "--data-dir", str(data), "--poll-interval", "1",
        "--timeout", "60", "dev", env=moto_env(moto),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    output = json.loads(done.stdout.split("==> SUCCEEDED: ", 1)[1].splitlines()[0])
    assert output == succeeded_output("smoke-test", len(SAMPLE_FILES))
    bucket = landing("dev")
    s3 = boto_client(moto, "s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="raw/smoke-test/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"raw/smoke-test/{n}" for n in SAMPLE_FILES]
    for name in SAMPLE_FILES:
        body = s3.get_object(Bucket=bucket, Key=f"raw/smoke-test/{name}")["Body"].read()
        assert body == (REPO / "data" / name).read_bytes()
    sfn = boto_client(moto, "stepfunctions")
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:lakehouse-dev-pipeline:smoke-test"
    execution = sfn.describe_execution(executionArn=arn)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["input"]) == {
        "batch_id": "smoke-test",
        "files": [f"s3://{bucket}/raw/smoke-test/{n}" for n in SAMPLE_FILES],
    }


@pytest.mark.integration
def test_a_failed_execution_fails_with_its_error_and_cause(moto: str) -> None:
    done = smoke_run("--poll-interval", "1", "--timeout", "60", "staging", env=moto_env(moto))
    line = error_line(done)
    assert line.startswith(
        f"smoke_run.sh: error: execution FAILED: {LAYER_FAILED_ERROR}: {LAYER_FAILED_CAUSE[:2000]}"
        "... (truncated: describe-execution shows the whole cause) (arn:aws:states:"
    ), line[:300]


@pytest.mark.integration
def test_an_execution_still_running_at_the_timeout_fails_and_is_left_running(moto: str) -> None:
    done = smoke_run(
        "--batch-id", "slow", "--poll-interval", "1", "--timeout", "2", "prod", env=moto_env(moto)
    )
    line = error_line(done)
    assert line.startswith("smoke_run.sh: error: execution still RUNNING after 2s"), line
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:lakehouse-prod-pipeline:slow"
    status = boto_client(moto, "stepfunctions").describe_execution(executionArn=arn)["status"]
    assert status == "RUNNING"


def project_params(tmp_path: Path, project: str) -> Path:
    config = json.loads((REPO / "infrastructure" / "parameters" / "dev.json").read_text())
    config["Parameters"]["ProjectName"] = project
    params = tmp_path / f"{project}.json"
    params.write_text(json.dumps(config))
    return params


@pytest.mark.integration
@pytest.mark.parametrize("project", ["idle", "part"])
def test_an_execution_that_did_not_process_every_file_fails(
    moto: str, tmp_path: Path, project: str
) -> None:
    done = smoke_run(
        "--params", str(project_params(tmp_path, project)), "--poll-interval", "1",
        "--timeout", "60", "dev", env=moto_env(moto),
    )  # fmt: skip
    line = error_line(done)
    assert line.startswith(
        "smoke_run.sh: error: the execution succeeded without processing the "
        f"{len(SAMPLE_FILES)} uploaded files: "
    ), line
