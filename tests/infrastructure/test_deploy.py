"""deploy.sh: its dry run and error messages, and a real deploy against a local moto server.

Developer notes on moto 5.2 (the emulator; none of this affects AWS):
- Moto's CloudFormation silently skips AWS::Glue::*, AWS::Athena::*, AWS::CloudWatch::Alarm,
  AWS::S3::BucketPolicy and AWS::SNS::TopicPolicy; a !Ref to a skipped resource resolves to
  null. Nothing is asserted about them here (cfn-lint and checkov cover them).
- Of AWS::S3::Bucket it applies only BucketEncryption (not versioning, public-access block,
  logging or lifecycle rules), and of AWS::StepFunctions::StateMachine only DefinitionString:
  with DefinitionS3Location (or Definition) the machine's definition is "". Those settings are
  asserted on the template the stack was deployed with, and the definition on the ASL object
  `cloudformation package` uploaded.
- Stacks created through change sets (what `cloudformation deploy` does) report no Outputs, and
  DescribeKey on a key created by CloudFormation fails with HTTP 500 (its policy is stored as a
  dict): deploy.sh needs neither (fixed bootstrap names, key found through its alias).
- An unchanged re-deploy makes CreateChangeSet fail with "No updates are to be performed."
  instead of returning an empty change set; deploy.sh treats that wording as "no changes".
- A TemplateURL (deploy --s3-bucket) is only resolved when its host contains "localhost", so
  the endpoint is http://localhost:<port> although the server binds 127.0.0.1.
- Every test here shares one server, running in the test process (ThreadedMotoServer), and
  one deploy of `dev` (the `deployed` fixture); tests that need an environment of their own
  use another ProjectName.
- get_role_policy returns the policy document as a Python repr string, not JSON.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.support import (
    ACCOUNT,
    ASL_FILE,
    DEPLOY_SH,
    INFRA,
    REGION,
    RUN_JOB,
    aws_env,
    boto_client,
    free_port,
    moto_credentials,
)

PREFIX = f"lakehouse-dev-{ACCOUNT}-{REGION}"
# The server runs in this process, so moto's notes on the resource types it skips (see above)
# would show up as warnings of these tests.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse .* not supported by moto:UserWarning"
)


def base_env(**overrides: str) -> dict[str, str]:
    return aws_env(**overrides)


def deploy(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEPLOY_SH), *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0
    assert len(lines) == 1, done.stderr  # one clear line, no traceback
    return lines[0]


# --------------------------------------------------------------------------- dry run and errors
def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path) -> None:
    # No credentials and an unreachable endpoint: a dry run needs neither.
    done = deploy("--dry-run", "dev", env=base_env())
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "dry run" in out
    for expected in (
        "cloudformation deploy --stack-name lakehouse-dev-bootstrap"
        " --role-arn arn:aws:iam::ACCOUNT_ID:role/cloudformation-lakehouse-dev",
        "uv build --wheel",
        "s3 cp --recursive --only-show-errors --sse aws:kms --sse-kms-key-id arn:aws:kms:",
        "cloudformation package --template-file",
        "cloudformation deploy --stack-name lakehouse-dev"
        " --role-arn arn:aws:iam::ACCOUNT_ID:role/cloudformation-lakehouse-dev",
        "--capabilities CAPABILITY_NAMED_IAM",
        "GlueWorkerCount=2",
        "Environment=dev",
        "--tags project=lakehouse environment=dev owner=data-platform"
        " lakehouse:environment=lakehouse-dev",
    ):
        assert expected in out, expected
    # Every stack change is a change set, created, printed, then executed.
    assert out.count("--no-execute-changeset --no-fail-on-empty-changeset") == 2
    # The ASL files and the packaged template are encrypted with the environment's key.
    package = next(line for line in out.splitlines() if "cloudformation package" in line)
    assert "--kms-key-id arn:aws:kms:" in package
    main = next(line for line in out.splitlines() if "deploy --stack-name lakehouse-dev " in line)
    assert "--kms-key-id arn:aws:kms:" in main
    # The bootstrap stack carries no tags (its key is created without kms:TagResource).
    bootstrap = next(line for line in out.splitlines() if "-bootstrap " in line)
    assert "--tags" not in bootstrap


def test_missing_parameter(tmp_path: Path) -> None:
    config = json.loads((INFRA / "parameters" / "dev.json").read_text())
    del config["Parameters"]["GlueWorkerCount"]
    params = tmp_path / "dev.json"
    params.write_text(json.dumps(config))
    line = error_line(deploy("--dry-run", "--params", str(params), "dev", env=base_env()))
    assert line == f"deploy.sh: error: {params} is missing required parameter(s): GlueWorkerCount"


def test_parameter_deploy_sh_computes_is_rejected(tmp_path: Path) -> None:
    config = json.loads((INFRA / "parameters" / "dev.json").read_text())
    config["Parameters"]["ArtifactsPrefix"] = "glue/000000000000"
    params = tmp_path / "dev.json"
    params.write_text(json.dumps(config))
    line = error_line(deploy("--dry-run", "--params", str(params), "dev", env=base_env()))
    assert "sets ArtifactsPrefix, which deploy.sh computes itself" in line


def test_environment_tag_is_reserved(tmp_path: Path) -> None:
    config = json.loads((INFRA / "parameters" / "dev.json").read_text())
    config["Tags"]["lakehouse:environment"] = "other"
    params = tmp_path / "dev.json"
    params.write_text(json.dumps(config))
    line = error_line(deploy("--dry-run", "--params", str(params), "dev", env=base_env()))
    assert "sets the tag lakehouse:environment, which deploy.sh sets itself" in line


def test_prod_needs_an_alert_email() -> None:
    line = error_line(deploy("--dry-run", "prod", env=base_env()))
    assert line.startswith("deploy.sh: error: AlertEmail is empty in ")


def test_long_project_names_are_refused(tmp_path: Path) -> None:
    config = json.loads((INFRA / "parameters" / "dev.json").read_text())
    config["Parameters"]["ProjectName"] = "lakehouse-ab"  # 12 characters
    params = tmp_path / "dev.json"
    params.write_text(json.dumps(config))
    line = error_line(deploy("--dry-run", "--params", str(params), "dev", env=base_env()))
    assert "must match ^[a-z][a-z0-9-]{1,10}$ (bucket names stay within 63" in line


def test_unknown_environment() -> None:
    line = error_line(deploy("qa", env=base_env()))
    assert line == f"deploy.sh: error: no parameter file {INFRA}/parameters/qa.json"


def test_missing_environment() -> None:
    assert "missing environment" in error_line(deploy(env=base_env()))


def test_missing_aws_cli(tmp_path: Path) -> None:
    # A PATH with bash and coreutils but no aws.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "python3"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    env = base_env(PATH=str(bin_dir))
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(DEPLOY_SH), "dev"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert error_line(done).startswith("deploy.sh: error: the aws CLI is not on PATH")


def test_missing_credentials() -> None:
    line = error_line(deploy("dev", env=base_env()))
    assert line.startswith("deploy.sh: error: no usable AWS credentials (")
    assert "Unable to locate credentials" in line


def test_missing_region() -> None:
    env = base_env()
    del env["AWS_DEFAULT_REGION"]
    line = error_line(deploy("--dry-run", "dev", env=env))
    assert line.startswith("deploy.sh: error: no AWS region")


def test_aws_cli_pager_is_off() -> None:
    """CLI v2 would page `describe-stacks --output table` and hang a CI job waiting for a key."""
    lines = DEPLOY_SH.read_text().splitlines()
    export = lines.index('export AWS_PAGER=""')
    first_aws_call = next(i for i, line in enumerate(lines) if "command -v aws" in line)
    assert export < first_aws_call


# --------------------------------------------------------------------------- moto integration
# One moto server for the module, in this process, so that a test can also put a stack into a
# state moto never reaches by itself (ROLLBACK_COMPLETE). Tests that need an environment of
# their own use another project name (a parameter file with its own ProjectName).
@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://localhost:{port}"
    try:
        yield endpoint
    finally:
        # The backends live in this process: leave nothing behind for later tests.
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        ).close()
        server.stop()


def moto_env(endpoint: str) -> dict[str, str]:
    return base_env(**moto_credentials(endpoint))


def project_params(tmp_path: Path, project: str) -> Path:
    config = json.loads((INFRA / "parameters" / "dev.json").read_text())
    config["Parameters"]["ProjectName"] = project
    params = tmp_path / f"{project}.json"
    params.write_text(json.dumps(config))
    return params


def deploy_access(endpoint: str) -> None:
    """What an administrator does once per environment: the access stack."""
    done = subprocess.run(
        ["aws", "cloudformation", "deploy", "--stack-name", "lakehouse-dev-access",
         "--template-file", str(INFRA / "templates" / "access.yaml"),
         "--capabilities", "CAPABILITY_NAMED_IAM",
         "--parameter-overrides", "Environment=dev"],
        capture_output=True, text=True, env=moto_env(endpoint), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_without_the_access_stack_deploy_says_what_to_do(
    moto_endpoint: str, tmp_path: Path
) -> None:
    params = project_params(tmp_path, "noaccess")
    line = error_line(deploy("--params", str(params), "dev", env=moto_env(moto_endpoint)))
    assert line.startswith(
        "deploy.sh: error: no CloudFormation service role cloudformation-noaccess-dev: "
        "an administrator deploys infrastructure/templates/access.yaml first"
    ), line


@pytest.fixture(scope="module")
def deployed(moto_endpoint: str) -> dict[str, Any]:
    """Runs deploy.sh dev twice (the second run must change nothing) against moto."""
    deploy_access(moto_endpoint)
    env = moto_env(moto_endpoint)
    first = deploy("dev", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    second = deploy("dev", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    return {"endpoint": moto_endpoint, "first": first, "second": second}


def client(deployed: dict[str, Any], service: str) -> Any:
    return boto_client(deployed["endpoint"], service)


def deployed_template(deployed: dict[str, Any], stack: str) -> dict[str, Any]:
    from cfnlint.decode import decode_str

    body = client(deployed, "cloudformation").get_template(StackName=stack)["TemplateBody"]
    template, errors = decode_str(body if isinstance(body, str) else json.dumps(body))
    assert not errors and template is not None
    return dict(template)


def key_arn(deployed: dict[str, Any]) -> str:
    aliases = client(deployed, "kms").list_aliases()["Aliases"]
    key_id = next(a["TargetKeyId"] for a in aliases if a["AliasName"] == "alias/lakehouse-dev-data")
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


@pytest.mark.integration
def test_stacks_deploy_and_redeploy_idempotently(deployed: dict[str, Any]) -> None:
    cfn = client(deployed, "cloudformation")
    for stack in ("lakehouse-dev-bootstrap", "lakehouse-dev"):
        assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert deployed["first"].stdout.count("Successfully created/updated stack") == 2
    # Each change set was printed before it was executed.
    assert deployed["first"].stdout.count("change set for lakehouse-dev") == 2
    assert deployed["second"].stdout.count("No changes to deploy") == 2
    assert "Successfully created/updated stack" not in deployed["second"].stdout


@pytest.mark.integration
def test_kms_key(deployed: dict[str, Any]) -> None:
    kms = client(deployed, "kms")
    key_id = key_arn(deployed).rsplit("/", 1)[1]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]


@pytest.mark.integration
def test_buckets(deployed: dict[str, Any]) -> None:
    s3 = client(deployed, "s3")
    kinds = {"access-logs", "artifacts", "landing", "lakehouse", "athena-results"}
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {f"{PREFIX}-{kind}" for kind in kinds} <= names
    # Encryption is what moto applies: the data key everywhere, SSE-S3 for access logs.
    for kind in kinds:
        rule = s3.get_bucket_encryption(Bucket=f"{PREFIX}-{kind}")[
            "ServerSideEncryptionConfiguration"
        ]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        if kind == "access-logs":
            assert rule == {"SSEAlgorithm": "AES256"}
        else:
            assert rule == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn(deployed)}
    # Versioning, public-access block, access logging and TLS-only policies: moto does not
    # apply them, so check them on the templates the stacks were deployed with.
    for stack in ("lakehouse-dev-bootstrap", "lakehouse-dev"):
        resources = deployed_template(deployed, stack)["Resources"]
        buckets = {n: r for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
        policies = [r for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
        for name, bucket in buckets.items():
            props = bucket["Properties"]
            assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
            assert set(props["PublicAccessBlockConfiguration"].values()) == {True}, name
            assert props["LifecycleConfiguration"]["Rules"], name
            if name != "AccessLogsBucket":
                assert props["LoggingConfiguration"]["DestinationBucketName"], name
            assert any(
                p["Properties"]["Bucket"] == {"Ref": name}
                and p["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]
                == {"Bool": {"aws:SecureTransport": "false"}}
                for p in policies
            ), f"{name} has no TLS-only policy"


@pytest.mark.integration
def test_glue_artifacts_uploaded(deployed: dict[str, Any]) -> None:
    s3 = client(deployed, "s3")
    bucket = f"{PREFIX}-artifacts"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="glue/")["Contents"]]
    prefixes = {k.rsplit("/", 1)[0] for k in keys}
    assert len(prefixes) == 1, prefixes  # the re-deploy reused the content-addressed prefix
    prefix = prefixes.pop()
    names = {k.rsplit("/", 1)[1] for k in keys}
    wheel = next(n for n in names if n.endswith(".whl"))
    assert names == {"run_job.py", "requirements.txt", wheel}
    head = s3.head_object(Bucket=bucket, Key=f"{prefix}/requirements.txt")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert wheel.startswith("etl-") and wheel.endswith("-py3-none-any.whl")
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}/run_job.py")["Body"].read()
    assert body == RUN_JOB.read_bytes()
    pins = s3.get_object(Bucket=bucket, Key=f"{prefix}/requirements.txt")["Body"].read()
    assert pins == (INFRA / "glue" / "requirements.txt").read_bytes()
    # The stack points the (emulator-skipped) Glue job at exactly these artifacts.
    params = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in client(deployed, "cloudformation").describe_stacks(StackName="lakehouse-dev")[
            "Stacks"
        ][0]["Parameters"]
    }
    assert params["ArtifactsPrefix"] == prefix
    assert params["WheelFileName"] == wheel
    assert params["KmsKeyArn"] == key_arn(deployed)


@pytest.mark.integration
def test_state_machine(deployed: dict[str, Any]) -> None:
    sfn = client(deployed, "stepfunctions")
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:lakehouse-dev-pipeline"
    machine = sfn.describe_state_machine(stateMachineArn=arn)
    assert machine["type"] == "STANDARD"
    assert machine["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/lakehouse-dev-pipeline"
    # The definition: `cloudformation package` uploaded the ASL file and the deployed template
    # points at that object, with the stack's substitutions.
    props = deployed_template(deployed, "lakehouse-dev")["Resources"]["PipelineStateMachine"][
        "Properties"
    ]
    location = props["DefinitionS3Location"]
    assert location["Bucket"] == f"{PREFIX}-artifacts"
    uploaded = client(deployed, "s3").get_object(Bucket=location["Bucket"], Key=location["Key"])
    assert uploaded["Body"].read() == ASL_FILE.read_bytes()
    assert uploaded["ServerSideEncryption"] == "aws:kms"  # package --kms-key-id
    assert uploaded["SSEKMSKeyId"] == key_arn(deployed)
    assert props["DefinitionSubstitutions"]["LandingBucket"] == {"Ref": "LandingBucket"}
    maintenance = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:lakehouse-dev-maintenance"
    assert sfn.describe_state_machine(stateMachineArn=maintenance)["type"] == "STANDARD"


@pytest.mark.integration
def test_alerts_topic_and_lock_table(deployed: dict[str, Any]) -> None:
    sns = client(deployed, "sns")
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:lakehouse-dev-alerts"
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["KmsMasterKeyId"] == key_arn(deployed)
    table = client(deployed, "dynamodb").describe_table(TableName="lakehouse-dev-pipeline-lock")
    assert table["Table"]["KeySchema"] == [{"AttributeName": "lock_id", "KeyType": "HASH"}]
    assert table["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


@pytest.mark.integration
def test_event_rules(deployed: dict[str, Any]) -> None:
    events = client(deployed, "events")
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:lakehouse-dev-pipeline"
    trigger_role = f"arn:aws:iam::{ACCOUNT}:role/lakehouse-dev-pipeline-trigger"

    marker = events.describe_rule(Name="lakehouse-dev-raw-batch-ready")
    assert marker["State"] == "ENABLED"
    assert json.loads(marker["EventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [f"{PREFIX}-landing"]},
            "object": {"key": [{"wildcard": "raw/*/_SUCCESS"}]},
        },
    }
    [target] = events.list_targets_by_rule(Rule="lakehouse-dev-raw-batch-ready")["Targets"]
    assert (target["Arn"], target["RoleArn"]) == (machine, trigger_role)
    assert target["InputTransformer"]["InputPathsMap"] == {"key": "$.detail.object.key"}

    weekly = events.describe_rule(Name="lakehouse-dev-weekly-maintenance")
    assert weekly["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    [target] = events.list_targets_by_rule(Rule="lakehouse-dev-weekly-maintenance")["Targets"]
    assert target["Arn"].endswith(":stateMachine:lakehouse-dev-maintenance")
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:lakehouse-dev-trigger-dlq"
    assert target["DeadLetterConfig"] == {"Arn": dlq}

    schedule = events.describe_rule(Name="lakehouse-dev-daily-sweep")
    assert schedule["ScheduleExpression"] == "cron(0 5 * * ? *)"
    assert schedule["State"] == "DISABLED"  # dev.json: no daily sweep in dev
    [target] = events.list_targets_by_rule(Rule="lakehouse-dev-daily-sweep")["Targets"]
    assert (target["Arn"], json.loads(target["Input"])) == (machine, {"trigger": "schedule"})

    glue_failed = events.describe_rule(Name="lakehouse-dev-glue-job-failed")
    pattern = json.loads(glue_failed["EventPattern"])
    assert pattern["source"] == ["aws.glue"]
    assert pattern["detail"]["state"] == ["FAILED", "TIMEOUT", "ERROR"]
    [target] = events.list_targets_by_rule(Rule="lakehouse-dev-glue-job-failed")["Targets"]
    assert target["Arn"].endswith(":log-group:/aws/events/lakehouse-dev-glue-failures")


@pytest.mark.integration
def test_log_groups_have_retention(deployed: dict[str, Any]) -> None:
    groups = client(deployed, "logs").describe_log_groups()["logGroups"]
    retention = {g["logGroupName"]: g.get("retentionInDays") for g in groups}
    assert retention == {
        "/aws-glue/lakehouse-dev/error": 30,
        "/aws-glue/lakehouse-dev/output": 30,
        "/aws/events/lakehouse-dev-glue-failures": 30,
        "/aws/vendedlogs/states/lakehouse-dev-pipeline": 30,
        "/aws/vendedlogs/states/lakehouse-dev-maintenance": 30,
    }


def role_policy(iam: Any, role: str) -> dict[str, Any]:
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):  # moto: a Python repr
        document = ast.literal_eval(document)
    assert isinstance(document, dict)
    return document


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@pytest.mark.integration
def test_iam_roles_are_least_privilege(deployed: dict[str, Any]) -> None:
    iam = client(deployed, "iam")
    expected = {
        "lakehouse-dev-glue-job": "glue.amazonaws.com",
        "lakehouse-dev-pipeline": "states.amazonaws.com",
        "lakehouse-dev-pipeline-trigger": "events.amazonaws.com",
    }
    # Statements allowed a "*" resource: their APIs have no resource-level permissions.
    wildcard_ok = {"PublishJobMetrics", "ExecutionLogDelivery"}
    for role, service in expected.items():
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(trust, str):
            trust = json.loads(trust)
        [statement] = trust["Statement"]
        assert statement["Principal"] == {"Service": service}
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        for statement in role_policy(iam, role)["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = as_list(statement["Action"])
            assert all(a != "*" and not a.endswith(":*") for a in actions), (role, actions)
            resources = as_list(statement["Resource"])
            if "*" in resources:
                assert statement.get("Sid") in wildcard_ok, (role, statement)
    # The trigger role can start the two state machines and nothing else.
    [start] = role_policy(iam, "lakehouse-dev-pipeline-trigger")["Statement"]
    assert start["Action"] == "states:StartExecution"
    assert sorted(r.rsplit(":", 1)[1] for r in start["Resource"]) == [
        "lakehouse-dev-maintenance",
        "lakehouse-dev-pipeline",
    ]


@pytest.mark.integration
def test_review_prints_a_change_set_and_changes_nothing(
    deployed: dict[str, Any], tmp_path: Path
) -> None:
    config = json.loads((INFRA / "parameters" / "dev.json").read_text())
    config["Parameters"]["GlueWorkerCount"] = "3"
    params = tmp_path / "dev.json"
    params.write_text(json.dumps(config))
    env = moto_env(deployed["endpoint"])
    done = deploy("--review", "--params", str(params), "dev", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "change set for lakehouse-dev (existing stack): arn:" in done.stdout
    assert "review only: to apply exactly this change set, run aws cloudformation" in done.stdout
    assert "Successfully created/updated stack" not in done.stdout
    cfn = client(deployed, "cloudformation")
    [stack] = cfn.describe_stacks(StackName="lakehouse-dev")["Stacks"]
    workers = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert workers["GlueWorkerCount"] == "2"  # not executed
    pending = cfn.list_change_sets(StackName="lakehouse-dev")["Summaries"]
    assert any(c["ExecutionStatus"] == "AVAILABLE" for c in pending)


@pytest.mark.integration
def test_a_stack_left_in_rollback_complete_stops_the_deploy_with_what_to_do(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """moto never rolls a stack back, so the state is set on its in-process backend, the way a
    failed first create leaves it on AWS; deploy.sh reads it through DescribeStacks. The
    environment is a project of its own, with the service role its access stack would make."""
    from moto.cloudformation.models import cloudformation_backends

    boto_client(moto_endpoint, "iam").create_role(
        RoleName="cloudformation-rollback-dev", AssumeRolePolicyDocument="{}"
    )
    cfn = boto_client(moto_endpoint, "cloudformation")
    cfn.create_stack(
        StackName="rollback-dev-bootstrap",
        TemplateBody=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}),
    )
    backend = cloudformation_backends[ACCOUNT][REGION]
    [stack] = [s for s in backend.stacks.values() if s.name == "rollback-dev-bootstrap"]
    stack.status = "ROLLBACK_COMPLETE"
    params = project_params(tmp_path, "rollback")
    line = error_line(deploy("--params", str(params), "dev", env=moto_env(moto_endpoint)))
    assert line.startswith(
        "deploy.sh: error: stack rollback-dev-bootstrap is in ROLLBACK_COMPLETE: its first "
        "create failed and it can only be deleted."
    ), line
    assert "aws cloudformation delete-stack --stack-name rollback-dev-bootstrap --role-arn" in line
    assert "then run deploy.sh again" in line
