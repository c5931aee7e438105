"""What the main template promises that the emulator cannot show (moto skips Glue, Athena and
CloudWatch alarms): the Glue job's settings, the Athena workgroup, logs, alarms, triggers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infrastructure.glue_platform import PLATFORM_CONF
from tests.infrastructure.support import ASL_FILE, load_asl, load_template


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Resources"]
    return found


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in resources.items() if r["Type"] == kind}


def sub(value: Any) -> str:
    return str(value["Fn::Sub"]) if isinstance(value, dict) and "Fn::Sub" in value else str(value)


def test_glue_job(resources: dict[str, Any]) -> None:
    [job] = of_type(resources, "AWS::Glue::Job").values()
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["Name"] == "glueetl"
    assert job["MaxRetries"] == 0  # the state machine retries
    args = job["DefaultArguments"]
    assert args["--datalake-formats"] == "delta"
    assert sub(args["--extra-py-files"]).endswith("/${ArtifactsPrefix}/${WheelFileName}")
    # Exact pins from uv.lock in a requirements file (deploy.sh writes it).
    assert sub(args["--additional-python-modules"]).endswith("/${ArtifactsPrefix}/requirements.txt")
    assert args["--python-modules-installer-option"] == "-r"
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    # Glue 4.0-and-earlier logging flags: Glue 5.0 logs in real time and ignores them.
    for flag in (
        "--enable-continuous-cloudwatch-log",
        "--enable-continuous-log-filter",
        "--continuous-log-logGroup",
        "--continuous-log-logStreamPrefix",
        "--continuous-log-conversionPattern",
    ):
        assert flag not in args, flag
    assert sub(args["--custom-logGroup-prefix"]) == "/aws-glue/${ProjectName}-${Environment}"
    settings = dict(pair.split("=", 1) for pair in args["--conf"].split(" --conf "))
    assert settings["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    # VACUUM's file listing: Spark's default of 10,000 tasks a table would dwarf the work.
    assert int(settings["spark.sql.sources.parallelPartitionDiscovery.parallelism"]) <= 256
    # The stand-in platform the Glue entry point is tested on runs with these very settings.
    assert {k: PLATFORM_CONF.get(k) for k in settings} == settings
    assert sub(job["Command"]["ScriptLocation"]).endswith("/${ArtifactsPrefix}/run_job.py")
    assert job["SecurityConfiguration"] == {"Ref": "GlueSecurityConfiguration"}


def test_athena_workgroup(resources: dict[str, Any]) -> None:
    [workgroup] = of_type(resources, "AWS::Athena::WorkGroup").values()
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert config["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Ref": "KmsKeyArn"},
    }
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"


def test_silver_and_gold_are_native_delta_tables_without_manifests() -> None:
    asl = load_asl()
    ddl = asl["States"]["RegisterTables"]["Items"]
    assert {q.split("${", 1)[1].split("}", 1)[0] for q in ddl} == {"SilverDatabase", "GoldDatabase"}
    assert all("TBLPROPERTIES ('table_type'='DELTA')" in q for q in ddl)
    for text in (ASL_FILE.read_text(), json.dumps(load_template())):
        assert "symlink" not in text.lower()
        assert "GENERATE symlink_format_manifest".lower() not in text.lower()


def test_log_groups_are_encrypted_and_expire(resources: dict[str, Any]) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) == 5
    for name, group in groups.items():
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["KmsKeyId"] == {"Ref": "KmsKeyArn"}, name


def test_alarms_notify_the_alerts_topic(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    metrics = {(a.get("Namespace"), a.get("MetricName")) for a in alarms.values()}
    assert metrics == {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/States", "ExecutionsAborted"),
        ("AWS/Events", "TriggeredRules"),  # Glue job runs that failed, timed out or errored
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),  # the triggers' dead letters
        (None, None),  # maintenance: failed + timed out + aborted (metric math)
    }
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}], name


def test_triggers(resources: dict[str, Any]) -> None:
    rules = of_type(resources, "AWS::Events::Rule")
    marker = rules["RawMarkerRule"]
    assert marker["EventPattern"]["detail"]["object"]["key"] == [{"wildcard": "raw/*/_SUCCESS"}]
    assert marker["Targets"][0]["Arn"] == {"Ref": "PipelineStateMachine"}
    schedule = rules["DailyScheduleRule"]
    assert schedule["ScheduleExpression"] == {"Ref": "DailyScheduleExpression"}
    maintenance = rules["MaintenanceScheduleRule"]
    assert maintenance["Targets"][0]["Arn"] == {"Ref": "MaintenanceStateMachine"}
    # Every trigger retries for a day, then leaves the event in the alarmed dead-letter queue.
    for name, rule in rules.items():
        if name == "GlueFailureRule":
            continue
        [target] = rule["Targets"]
        dead_letters = {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}
        assert target["DeadLetterConfig"] == {"Arn": dead_letters}
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 185,
            "MaximumEventAgeInSeconds": 86400,
        }, name
    landing = resources["LandingBucket"]["Properties"]
    assert landing["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }


def test_state_machine_definition_is_its_own_file(resources: dict[str, Any]) -> None:
    machine = resources["PipelineStateMachine"]["Properties"]
    assert machine["DefinitionS3Location"] == "../statemachine/pipeline.asl.json"
    assert "Definition" not in machine and "DefinitionString" not in machine
    assert machine["DefinitionSubstitutions"]
    assert load_asl()["TimeoutSeconds"] > 0
