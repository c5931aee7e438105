"""cfn-lint and checkov over the templates, and cfn-lint's ASL rule (E3601) over the ASL file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint, lint_file

from tests.infrastructure.support import (
    ASL_FILES,
    REPO,
    TEMPLATES,
    checkov_reports,
    checkov_scanned,
    load_asl,
    load_template,
    node_tools,
)


def describe(matches: list[Any]) -> list[str]:
    return [f"{m.rule.id} {m.filename}:{m.linenumber} {m.message}" for m in matches]


def test_templates_exist() -> None:
    assert {p.name for p in TEMPLATES} == {"bootstrap.yaml", "lakehouse.yaml", "access.yaml"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_reports_no_errors_or_warnings(template: Path) -> None:
    matches = [m for m in lint_file(template) if m.rule.id[0] in "EW"]
    assert not matches, "\n".join(describe(matches))


def asl_wrapper(definition: dict[str, Any]) -> str:
    """A minimal template that inlines an ASL document as `Definition`, with the substitution
    names of the real stack, so that cfn-lint's E3601 validates the ASL file itself (the real
    template points at it with DefinitionS3Location, which cfn-lint cannot follow)."""
    real = load_template()["Resources"]["PipelineStateMachine"]["Properties"]
    substitutions = set(real["DefinitionSubstitutions"]) | set(
        load_template()["Resources"]["MaintenanceStateMachine"]["Properties"][
            "DefinitionSubstitutions"
        ]
    )
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "Machine": {
                    "Type": "AWS::StepFunctions::StateMachine",
                    "Properties": {
                        "RoleArn": "arn:aws:iam::123456789012:role/pipeline",
                        "Definition": definition,
                        "DefinitionSubstitutions": {
                            key: "placeholder" for key in sorted(substitutions)
                        },
                    },
                }
            },
        }
    )


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_cfn_lint_validates_the_asl_files(path: Path) -> None:
    matches = [m for m in lint(asl_wrapper(load_asl(path))) if m.rule.id[0] in "EW"]
    assert not matches, "\n".join(describe(matches))


def asl_validator(path: Path) -> subprocess.CompletedProcess[str]:
    modules = node_tools()
    return subprocess.run(
        ["node", str(modules / "asl-validator" / "dist" / "bin" / "asl-validator.js"),
         "--json-path", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_asl_validator_accepts_the_asl_files(path: Path) -> None:
    done = asl_validator(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_asl_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    broken = load_asl()
    broken["States"]["RunLayers"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    done = asl_validator(path)
    assert done.returncode != 0 and "NoSuchState" in done.stdout + done.stderr


def test_cfn_lint_asl_check_catches_a_broken_definition() -> None:
    """Guards the check above: the wrapper really runs the ASL through E3601."""
    broken = load_asl()
    del broken["States"]["AcquireLock"]["Resource"]
    broken["States"]["Init"]["Next"] = "NoSuchState"
    assert "E3601" in {m.rule.id for m in lint(asl_wrapper(broken))}


@pytest.mark.integration
def test_checkov_reports_no_failed_checks() -> None:
    report = checkov_reports()["cloudformation"]
    # checkov silently skips a file it cannot parse: every template must have been scanned.
    assert checkov_scanned(report) == {str(t.relative_to(REPO)) for t in TEMPLATES}
    failed = report["results"]["failed_checks"]
    assert report["summary"]["failed"] == 0, [
        (c["check_id"], c["resource"], c["file_path"]) for c in failed
    ]
    assert report["summary"]["passed"] > 100, report["summary"]
    # Each skip carries its justification in the template.
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"].get("suppress_comment"), check["check_id"]
