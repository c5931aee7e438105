"""The GitHub deploy role: who may assume it, and that it cannot reach beyond its environment."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.infrastructure.support import DEPLOY_SH, INFRA, aws_env, load_template

TEMPLATE = INFRA / "templates" / "github_oidc.yaml"
ENV_PREFIX = "${ProjectName}-${Environment}"
TAG_CONDITION = "aws:ResourceTag/lakehouse:environment"
# Actions without resource-level permissions, the only ones allowed on "*".
UNSCOPED_OK = {
    "cloudformation:ValidateTemplate",
    "cloudformation:GetTemplateSummary",
    "kms:CreateKey",
    "kms:TagResource",
    "kms:ListAliases",
    "glue:CreateSecurityConfiguration",
    "glue:GetSecurityConfiguration",
    "glue:DeleteSecurityConfiguration",
    "logs:DescribeLogGroups",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DeleteResourcePolicy",
}


@pytest.fixture(scope="module")
def role() -> dict[str, Any]:
    properties: dict[str, Any] = load_template(TEMPLATE)["Resources"]["DeployRole"]["Properties"]
    return properties


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    [policy] = role["Policies"]
    found: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    """The text of a !Sub (or a plain string)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"])
    return str(value)


def test_only_one_repository_and_github_environment_can_assume_it(role: dict[str, Any]) -> None:
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert sub_text(trust["Principal"]["Federated"]).endswith(
        ":oidc-provider/token.actions.githubusercontent.com"
    )
    assert set(trust["Condition"]) == {"StringEquals"}  # exact match, no wildcards
    condition = trust["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert sub_text(condition["token.actions.githubusercontent.com:sub"]) == (
        "repo:${GitHubOwner}/${GitHubRepository}:environment:${GitHubEnvironment}"
    )


def test_the_role_cannot_manage_itself(role: dict[str, Any]) -> None:
    name = sub_text(role["RoleName"])
    for statement in statements(role):
        if not any(a.startswith("iam:") for a in as_list(statement["Action"])):
            continue
        for resource in as_list(statement["Resource"]):
            pattern = sub_text(resource).rsplit(":role/", 1)[1]
            regex = re.escape(pattern).replace(r"\*", ".*")
            assert not re.fullmatch(regex, name), (statement["Sid"], pattern)


def test_every_statement_is_scoped_to_the_environment(role: dict[str, Any]) -> None:
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        assert all(a != "*" and not a.endswith(":*") for a in actions), statement["Sid"]
        resources = [sub_text(r) for r in as_list(statement["Resource"])]
        if resources == ["*"]:
            assert set(actions) <= UNSCOPED_OK, statement["Sid"]
            continue
        for resource in resources:
            assert (
                ENV_PREFIX in resource
                or "${ProjectName}_${Environment}_" in resource  # Glue database names
                or resource.endswith(":catalog")
                or (
                    resource.endswith(":key/*")
                    and sub_text(statement["Condition"]["StringEquals"][TAG_CONDITION])
                    == ENV_PREFIX
                )
            ), (statement["Sid"], resource)


def test_keys_are_created_only_with_the_environment_tag(role: dict[str, Any]) -> None:
    [create] = [s for s in statements(role) if "kms:CreateKey" in as_list(s["Action"])]
    assert (
        sub_text(create["Condition"]["StringEquals"]["aws:RequestTag/lakehouse:environment"])
        == ENV_PREFIX
    )
    # deploy.sh tags both stacks, hence the data key from its creation on, with that tag.
    done = subprocess.run(
        ["bash", str(DEPLOY_SH), "--dry-run", "dev"],
        capture_output=True, text=True, env=aws_env(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    bootstrap = next(line for line in done.stdout.splitlines() if "-bootstrap --" in line)
    assert "lakehouse:environment=lakehouse-dev" in bootstrap.split("--tags", 1)[1]


def test_no_stack_deletion_and_no_key_deletion(role: dict[str, Any]) -> None:
    actions = {a for s in statements(role) for a in as_list(s["Action"])}
    assert "cloudformation:DeleteStack" not in actions
    assert "kms:ScheduleKeyDeletion" not in actions


def test_pass_role_only_to_the_stack_services(role: dict[str, Any]) -> None:
    [passing] = [s for s in statements(role) if "iam:PassRole" in as_list(s["Action"])]
    assert set(passing["Condition"]["StringEquals"]["iam:PassedToService"]) == {
        "glue.amazonaws.com",
        "states.amazonaws.com",
        "events.amazonaws.com",
    }
