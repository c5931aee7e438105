"""Who can do what: the CloudFormation service role against the resource handlers' needs, the
permissions boundary on every role, the GitHub role that only drives stacks, every `*` resource
with its justification, retryable stacks and bucket-name lengths. moto enforces no IAM, so these
are checks over the templates (docs/deployment.md, "Roles and boundaries")."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.support import DEPLOY_SH, INFRA, SMOKE_RUN_SH, TEMPLATES, load_template

ACCESS = INFRA / "templates" / "access.yaml"
DEPLOYED = [INFRA / "templates" / "bootstrap.yaml", INFRA / "templates" / "lakehouse.yaml"]
SCHEMAS = Path(__import__("cfnlint").__file__).parent / "data" / "schemas"
# Handler permissions that are not IAM actions (cfn-lint's own IAM check, W3037, rejects them).
NOT_IAM_ACTIONS = {"s3:GetObjectMetadata", "s3:REST.PUT.OBJECT"}
# Handler actions the role is denied on purpose: the IAM::Role handler calls it only to remove a
# role's permissions boundary, which no role of the stacks may lose.
DENIED_ON_PURPOSE = {"iam:DeleteRolePermissionsBoundary"}

# Every Allow statement whose Resource is "*", with why: the API has no resource-level
# permissions. docs/deployment.md lists the same.
WILDCARD_JUSTIFICATIONS = {
    ("access.yaml", "PermissionsBoundary", "UnscopedTelemetry"): (
        "PutMetricData, log delivery, log resource policies, DescribeLogGroups and X-Ray "
        "have no resource-level permissions"
    ),
    ("access.yaml", "CloudFormationRole", "CreateDataKey"): (
        "kms:CreateKey has no resource-level permissions; the new key's only administrator "
        "is this role, through the key's own policy"
    ),
    ("access.yaml", "CloudFormationRole", "FindDataKey"): "kms:ListAliases is account-wide",
    ("access.yaml", "CloudFormationRole", "GlueSecurityConfigurations"): (
        "Glue security configurations have no ARNs"
    ),
    ("access.yaml", "CloudFormationRole", "LakeFormationReads"): (
        "read-only Lake Formation calls of the Glue handlers; no resource-level permissions"
    ),
    ("access.yaml", "CloudFormationRole", "LogDeliveryAndResourcePolicies"): (
        "log delivery, log resource policies and DescribeLogGroups have no resource-level "
        "permissions"
    ),
    ("access.yaml", "DeployRole", "TemplateChecks"): "ValidateTemplate is account-wide",
    ("access.yaml", "DeployRole", "FindDataKey"): "kms:ListAliases is account-wide",
    ("lakehouse.yaml", "GlueJobRole", "PublishJobMetrics"): (
        "PutMetricData has no resource-level permissions (narrowed to the Glue namespace)"
    ),
    ("lakehouse.yaml", "StateMachineRole", "ExecutionLogDelivery"): (
        "log delivery and X-Ray have no resource-level permissions"
    ),
}
KMS_USE = {
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
    "kms:ListAliases",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"])
    return json.dumps(value) if isinstance(value, dict) else str(value)


def policy_statements(template: Path) -> list[tuple[str, dict[str, Any]]]:
    """(logical id, statement) of every IAM policy in a template: role inline policies and
    managed policies."""
    found = []
    for name, resource in load_template(template)["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found += [(name, s) for s in policy["PolicyDocument"]["Statement"]]
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            found += [(name, s) for s in props["PolicyDocument"]["Statement"]]
    return found


def handler_actions() -> dict[str, set[str]]:
    """Action → resource types whose create, read, update or delete handler calls it, for
    every resource type of the stacks the CloudFormation role deploys."""
    registry = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    needed: dict[str, set[str]] = {}
    for template in DEPLOYED:
        for resource in load_template(template)["Resources"].values():
            kind = resource["Type"]
            schema = json.loads((SCHEMAS / "resources" / f"{registry[kind]}.json").read_text())
            assert schema.get("handlers"), f"{kind} has no handler permissions in its schema"
            for handler in ("create", "read", "update", "delete"):
                for action in schema["handlers"].get(handler, {}).get("permissions", []):
                    needed.setdefault(action, set()).add(kind)
    return needed


def allows(statements: list[dict[str, Any]], action: str) -> bool:
    return any(
        s["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(s["Action"]))
        for s in statements
    )


def cloudformation_role_statements(access: dict[str, Any]) -> list[dict[str, Any]]:
    role = access["Resources"]["CloudFormationRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def key_policy_for_cloudformation_role() -> list[dict[str, Any]]:
    key = load_template(INFRA / "templates" / "bootstrap.yaml")["Resources"]["DataKey"]
    return [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if "role/cloudformation-${ProjectName}-${Environment}"
        in sub_text(s["Principal"].get("AWS"))
    ]


# ---------------------------------------------------------------------- the CloudFormation role
def test_the_cloudformation_role_can_call_every_handler_action() -> None:
    statements = cloudformation_role_statements(load_template(ACCESS))
    key_policy = key_policy_for_cloudformation_role()
    missing = sorted(
        f"{action} ({', '.join(sorted(kinds))})"
        for action, kinds in handler_actions().items()
        if action not in NOT_IAM_ACTIONS | DENIED_ON_PURPOSE
        and not allows(statements, action)
        and not (action.startswith("kms:") and allows(key_policy, action))
    )
    assert not missing, missing


def test_the_handler_check_catches_a_missing_action() -> None:
    """The issue's examples: without them the role must fail the check."""
    statements = cloudformation_role_statements(load_template(ACCESS))
    for action in ("s3:GetAccelerateConfiguration", "sns:GetDataProtectionPolicy",
                   "logs:DescribeIndexPolicies", "lakeformation:DescribeResource"):  # fmt: skip
        assert action in handler_actions()
        assert allows(statements, action)
        stripped = [
            {**s, "Action": [a for a in as_list(s["Action"])
                             if not fnmatch.fnmatchcase(action.lower(), a.lower())]}
            for s in statements
        ]  # fmt: skip
        assert not allows(stripped, action), action


def test_the_cloudformation_role_creates_roles_only_with_the_boundary() -> None:
    access = load_template(ACCESS)
    statements = cloudformation_role_statements(access)
    boundary = {"Ref": "PermissionsBoundary"}
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                   "iam:PutRolePermissionsBoundary"):  # fmt: skip
        granting = [s for s in statements if s["Effect"] == "Allow" and allows([s], action)]
        assert granting, action
        for statement in granting:
            assert statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"] == boundary
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    for action in ("iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion",
                   "iam:SetDefaultPolicyVersion", "iam:DeletePolicy"):  # fmt: skip
        assert action in deny["Action"]
    assert boundary in deny["Resource"]
    # The roles it manages are the environment's; its own name and the GitHub role's are not.
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            if ":role/" in sub_text(resource) and statement["Effect"] == "Allow":
                pattern = sub_text(resource).rsplit(":role/", 1)[1]
                for own in ("cloudformation-${ProjectName}-${Environment}",
                            "github-deploy-${ProjectName}-${Environment}"):  # fmt: skip
                    assert not fnmatch.fnmatchcase(own, pattern), (statement["Sid"], pattern)


def test_every_role_of_the_stacks_carries_the_boundary() -> None:
    access = load_template(ACCESS)
    name = sub_text(access["Resources"]["PermissionsBoundary"]["Properties"]["ManagedPolicyName"])
    expected = f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{name}"
    for template in DEPLOYED:
        for logical, resource in load_template(template)["Resources"].items():
            if resource["Type"] == "AWS::IAM::Role":
                assert sub_text(resource["Properties"].get("PermissionsBoundary")) == expected, (
                    logical
                )


def test_the_boundary_grants_no_iam_and_no_key_administration() -> None:
    boundary = load_template(ACCESS)["Resources"]["PermissionsBoundary"]["Properties"]
    for statement in boundary["PolicyDocument"]["Statement"]:
        for action in as_list(statement["Action"]):
            assert not action.startswith(("iam:", "sts:")), action
            assert not action.startswith("kms:") or action in KMS_USE, action
            assert not action.startswith("s3:DeleteBucket"), action


# --------------------------------------------------------------------------- the GitHub role
def test_the_github_role_only_passes_the_cloudformation_role() -> None:
    access = load_template(ACCESS)
    role = access["Resources"]["DeployRole"]
    assert role["Condition"] == "HasGitHub"
    statements = [
        s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in as_list(s["Action"])}
    iam = {a for a in actions if a.startswith("iam:")}
    assert iam == {"iam:PassRole", "iam:GetRole"}
    for statement in statements:
        if {"iam:PassRole", "iam:GetRole"} & set(as_list(statement["Action"])):
            assert statement["Resource"] == {"Fn::GetAtt": ["CloudFormationRole", "Arn"]}
        if "iam:PassRole" in as_list(statement["Action"]):
            assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == (
                "cloudformation.amazonaws.com"
            )
    # It creates nothing itself: no service's create, put-policy, tag or key administration.
    creating = {
        a for a in actions if re.match(r"\w+:(Create(?!ChangeSet)|Tag|Untag|Put(?!Object))", a)
    }
    assert not creating, creating
    assert "cloudformation:DeleteStack" not in actions
    assert not {a for a in actions if a.startswith("kms:")} - KMS_USE


# The IAM actions behind each aws CLI call of the deploy workflow's scripts (the CLI's own calls
# included: `cloudformation deploy` looks the stack up, creates the change set as the service
# role and waits on it; uploads to the artifacts bucket check for the object first and encrypt
# with the data key).
CLI_ACTIONS: dict[tuple[str, str], set[str]] = {
    ("sts", "get-caller-identity"): set(),  # needs no permission
    ("iam", "get-role"): {"iam:GetRole"},
    ("kms", "list-aliases"): {"kms:ListAliases"},
    ("cloudformation", "describe-stacks"): {"cloudformation:DescribeStacks"},
    ("cloudformation", "deploy"): {
        "cloudformation:DescribeStacks", "cloudformation:CreateChangeSet",
        "cloudformation:DescribeChangeSet", "iam:PassRole",
        "s3:GetObject", "s3:PutObject", "kms:GenerateDataKey",
    },
    ("cloudformation", "describe-change-set"): {"cloudformation:DescribeChangeSet"},
    ("cloudformation", "execute-change-set"): {"cloudformation:ExecuteChangeSet"},
    ("cloudformation", "wait"): {"cloudformation:DescribeStacks"},
    ("cloudformation", "update-termination-protection"): {
        "cloudformation:UpdateTerminationProtection"
    },
    ("cloudformation", "package"): {"s3:GetObject", "s3:PutObject", "kms:GenerateDataKey"},
    ("s3", "cp"): {"s3:PutObject", "kms:GenerateDataKey"},
    ("stepfunctions", "start-execution"): {"states:StartExecution"},
    ("stepfunctions", "describe-execution"): {"states:DescribeExecution"},
}  # fmt: skip


def script_cli_calls() -> set[tuple[str, str]]:
    """(service, command) of every aws CLI call deploy.sh and smoke_run.sh make."""
    calls: set[tuple[str, str]] = set()
    for script in (DEPLOY_SH, SMOKE_RUN_SH):
        calls |= set(re.findall(r'"\$\{AWS\[@\]\}" ([a-z0-9-]+) ([a-z-]+)', script.read_text()))
    return calls


def deploy_role_statements() -> list[dict[str, Any]]:
    role = load_template(ACCESS)["Resources"]["DeployRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def missing_for_the_scripts(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(aws CLI call, IAM action) pairs of deploy.sh and smoke_run.sh the statements lack."""
    calls = script_cli_calls()
    assert ("cloudformation", "execute-change-set") in calls  # the parser sees the calls
    unmapped = calls - set(CLI_ACTIONS)
    assert not unmapped, f"map these calls to IAM actions in CLI_ACTIONS: {unmapped}"
    return {
        (f"{service} {command}", action)
        for service, command in calls
        for action in CLI_ACTIONS[(service, command)]
        if not allows(statements, action)
    }


def test_the_github_role_can_make_every_call_of_the_deploy_scripts() -> None:
    """moto enforces no IAM: a call the scripts make that the role lacks would only show on the
    first real deploy. Every call is mapped (a new one fails here until it is), and the role
    allows every action behind it."""
    assert not missing_for_the_scripts(deploy_role_statements())


def test_the_script_check_catches_a_missing_action() -> None:
    without = [
        {**s, "Action": [a for a in as_list(s["Action"]) if a != "states:DescribeExecution"]}
        for s in deploy_role_statements()
    ]
    assert missing_for_the_scripts(without) == {
        ("stepfunctions describe-execution", "states:DescribeExecution")
    }


def test_only_one_repository_and_github_environment_can_assume_it() -> None:
    role = load_template(ACCESS)["Resources"]["DeployRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(trust["Condition"]) == {"StringEquals"}
    condition = trust["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert sub_text(condition["token.actions.githubusercontent.com:sub"]) == (
        "repo:${GitHubOwner}/${GitHubRepository}:environment:${GitHubEnvironment}"
    )


# --------------------------------------------------------------------------- every "*"
def test_every_wildcard_resource_is_justified_and_harmless() -> None:
    found = {}
    for template in TEMPLATES:
        for logical, statement in policy_statements(template):
            if statement["Effect"] != "Allow" or "*" not in as_list(statement["Resource"]):
                continue
            key = (template.name, logical, statement.get("Sid", ""))
            found[key] = sorted(as_list(statement["Action"]))
            for action in found[key]:
                assert not action.startswith(("iam:", "sts:")), (key, action)
                assert not action.startswith("kms:") or action in KMS_USE | {"kms:CreateKey"}, (
                    key,
                    action,
                )
                assert not re.match(r"s3:(Delete|PutBucketPolicy)", action), (key, action)
                assert "*" not in action.split(":", 1)[1] or action.startswith("s3tables"), key
    assert set(found) == set(WILDCARD_JUSTIFICATIONS), set(found) ^ set(WILDCARD_JUSTIFICATIONS)
    docs = (INFRA.parent / "docs" / "deployment.md").read_text()
    for _, logical, sid in found:
        assert f"`{sid}`" in docs, f"docs/deployment.md does not justify {logical}/{sid}"


# --------------------------------------------------------------------------- retryable stacks
def test_stateful_resources_are_removed_when_their_create_rolls_back() -> None:
    """Retain would leave a named bucket or the key behind after a failed first deploy, and
    the retry would fail with "already exists"."""
    for template in DEPLOYED:
        for name, resource in load_template(template)["Resources"].items():
            if resource["Type"] in ("AWS::S3::Bucket", "AWS::KMS::Key"):
                assert resource.get("DeletionPolicy") in ("RetainExceptOnCreate", "Delete"), name
                assert resource.get("DeletionPolicy") != "Retain", name


def longest_region() -> str:
    regions = [p.stem for p in (SCHEMAS / "providers").glob("*-*-*.json")]
    assert "us-east-1" in regions and len(regions) > 20
    return max(regions, key=len)


@pytest.mark.parametrize("template", [*DEPLOYED], ids=lambda p: p.name)
def test_bucket_names_fit_63_characters(template: Path) -> None:
    decoded = load_template(template)
    pattern = decoded["Parameters"]["ProjectName"]["AllowedPattern"]
    longest_project = int(re.search(r"\{1,(\d+)\}", pattern).group(1)) + 1  # type: ignore[union-attr]
    for name, resource in decoded["Resources"].items():
        if resource["Type"] != "AWS::S3::Bucket":
            continue
        for environment in decoded["Parameters"]["Environment"]["AllowedValues"]:
            bucket = (
                sub_text(resource["Properties"]["BucketName"])
                .replace("${ProjectName}", "p" * longest_project)
                .replace("${Environment}", environment)
                .replace("${AWS::AccountId}", "123456789012")
                .replace("${AWS::Region}", longest_region())
            )
            assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket), (name, bucket)


def test_project_name_rules_agree() -> None:
    patterns = {load_template(t)["Parameters"]["ProjectName"]["AllowedPattern"] for t in TEMPLATES}
    assert len(patterns) == 1
    assert patterns.pop().strip("^$") in (INFRA / "deploy.sh").read_text()


def test_prod_needs_an_alert_email() -> None:
    rules = load_template()["Rules"]
    [rule] = rules.values()
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]
    }
