"""The pipeline's JSONata evaluated by the reference implementation on the inputs it must handle:
a marker, a sweep, an empty listing, a 1,001-key listing, a data-quality failure and a
transient one, and archive keys that need URL-encoding. Tasks are answered in-process (an S3
listing with ListObjectsV2's StartAfter/MaxKeys semantics, Glue, Athena, DynamoDB, SNS)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from tests.infrastructure.asl_sim import Jsonata, Simulator, TaskFailure, substitute
from tests.infrastructure.support import (
    GLUE_RUN_FAILED,
    LAYER_FAILED_CAUSE,
    LAYER_FAILED_ERROR,
    SAMPLE_FILES,
    load_asl,
    node_tools,
    succeeded_output,
)

LANDING = "landing-bucket"
START = "2025-05-01T05:00:00.000Z"
OLD, NEW = "2025-05-01T03:00:00Z", "2025-05-01T04:30:00Z"  # 2 h and 30 min before the start
GLUE = "arn:aws:states:::glue:startJobRun.sync"
DQ_CAUSE = json.dumps({"JobRunState": "FAILED", "ErrorMessage": "DataQualityError: silver.orders"})


@pytest.fixture(scope="module")
def engine() -> Iterator[Jsonata]:
    jsonata = Jsonata(node_tools())
    yield jsonata
    jsonata.close()


class Aws:
    def __init__(
        self,
        objects: dict[str, tuple[int, str]],
        glue_failures: list[str] = (),  # type: ignore[assignment]
        failing_apis: tuple[str, ...] = (),
    ) -> None:
        self.objects = dict(objects)
        self.glue_failures = list(glue_failures)
        self.failing_apis = failing_apis  # always fail, as a persistent outage would
        self.lock: dict[str, Any] | None = None
        self.started: list[Any] = []

    def __call__(self, resource: str, args: dict[str, Any]) -> Any:
        api = resource.rsplit(":", 1)[1]
        if api in self.failing_apis:
            raise TaskFailure("States.TaskFailed", f"{api} is unavailable")
        if api == "listObjectsV2":
            keys = sorted(
                k for k in self.objects if k.startswith(args["Prefix"]) and k > args["StartAfter"]
            )
            page = keys[: args["MaxKeys"]]
            result: dict[str, Any] = {"IsTruncated": len(keys) > len(page), "KeyCount": len(page)}
            if page:
                result["Contents"] = [
                    {"Key": k, "Size": self.objects[k][0], "LastModified": self.objects[k][1]}
                    for k in page
                ]
            return result
        if resource == GLUE:
            if self.glue_failures and args["Arguments"]["--etl_jobs"] == self.glue_failures[0]:
                self.glue_failures.pop(0)
                raise TaskFailure("States.TaskFailed", self.cause_for_failure)
            return {"Id": "jr", "ExecutionTime": 60}
        if api == "startQueryExecution.sync":
            return {"QueryExecution": {"QueryExecutionId": "q1"}}
        if api == "getQueryResults":
            names = [
                "daily_sales",
                "product_performance",
                "department_analytics",
                "customer_insights",
            ]
            return {
                "ResultSet": {
                    "Rows": [
                        {"Data": [{"VarCharValue": n} for n in names]},
                        {"Data": [{"VarCharValue": "5"} for _ in names]},
                    ]
                }
            }
        if api == "headObject":
            return {"ContentLength": self.objects[args["Key"]][0]}
        if api == "copyObject":
            _bucket, key = args["CopySource"].split("/", 1)
            source = unquote(key)  # S3 decodes the header
            # The header must be URL-encoded: only unreserved characters, '%' escapes and '/'.
            assert re.fullmatch(r"[A-Za-z0-9._~%/-]+", key), args["CopySource"]
            assert source in self.objects, args["CopySource"]
            self.objects[args["Key"]] = self.objects[source]
            return {}
        if api == "deleteObject":
            del self.objects[args["Key"]]
            return {}
        if api == "putItem" or api == "deleteItem":
            return {}
        if api == "startExecution":
            self.started.append(args["Input"])
            return {}
        return {}

    cause_for_failure = DQ_CAUSE


def run(engine: Jsonata, aws: Aws, data: dict[str, Any]) -> Any:
    asl = substitute(load_asl(), {
        "LockTable": "lock", "LandingBucket": LANDING, "LakehouseBucket": "lake",
        "GlueJobName": "etl", "AthenaWorkGroup": "wg", "SilverDatabase": "s", "GoldDatabase": "g",
        "AlertsTopicArn": "arn:aws:sns:eu-west-1:1:t", "Environment": "dev",
    })  # fmt: skip
    return Simulator(asl, engine, aws, start_time=START).run(data)


def glue_calls(result: Any) -> list[dict[str, str]]:
    return [a["Arguments"] for r, a in result.calls if r == GLUE]


def test_a_marker_runs_its_folder_layer_by_layer_and_archives_it(engine: Jsonata) -> None:
    aws = Aws({"raw/b1/orders.csv": (10, NEW), "raw/b1/items.xlsx": (10, NEW),
               "raw/b1/_SUCCESS": (0, NEW), "raw/b2/other.csv": (10, OLD)})  # fmt: skip
    result = run(engine, aws, {"trigger": "s3-marker", "marker_key": "raw/b1/_SUCCESS"})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    calls = glue_calls(result)
    assert [c["--etl_jobs"] for c in calls] == ["bronze", "silver", "gold"]
    assert (
        calls[0]["--files"] == f"s3://{LANDING}/raw/b1/items.xlsx,s3://{LANDING}/raw/b1/orders.csv"
    )
    assert all("--files" not in c and c["--batch_id"] == "b1" for c in calls[1:])
    assert set(aws.objects) == {"archived/b1/orders.csv", "archived/b1/items.xlsx",
                                "archived/b1/_SUCCESS", "raw/b2/other.csv"}  # fmt: skip
    assert result.output["files"] == 2 and not result.output["continued"]


def test_a_sweep_takes_only_files_untouched_for_an_hour(engine: Jsonata) -> None:
    aws = Aws({"raw/a/x.csv": (1, OLD), "raw/b/y.csv": (1, NEW), "raw/a/_SUCCESS": (0, OLD),
               "raw/c/empty.csv": (0, OLD)})  # fmt: skip
    result = run(engine, aws, {"trigger": "schedule"})
    assert result.status == "SUCCEEDED", result.cause
    assert glue_calls(result)[0]["--files"] == f"s3://{LANDING}/raw/a/x.csv"
    assert glue_calls(result)[0]["--batch_id"] == "scheduled-2025-05-01T0500"
    assert "raw/b/y.csv" in aws.objects and "archived/a/_SUCCESS" in aws.objects


def test_an_empty_listing_does_nothing(engine: Jsonata) -> None:
    result = run(engine, Aws({}), {"trigger": "schedule"})
    assert result.status == "SUCCEEDED"
    assert result.output["status"] == "NOTHING_TO_DO" and glue_calls(result) == []


def test_a_1001_key_listing_is_processed_whole_in_continued_executions(engine: Jsonata) -> None:
    keys = {f"raw/big/f{i:04d}.csv": (1, OLD) for i in range(1001)}
    aws = Aws(keys)
    data: dict[str, Any] | None = {"trigger": "schedule"}
    processed: list[str] = []
    while data is not None:
        result = run(engine, aws, data)
        assert result.status == "SUCCEEDED", result.cause
        processed += glue_calls(result)[0]["--files"].split(",")
        # The listing is never passed on as state output.
        assert all(not (isinstance(a, dict) and "Contents" in a) for _, a in result.calls)
        data = aws.started.pop() if aws.started else None
    assert sorted(processed) == sorted(f"s3://{LANDING}/{k}" for k in keys)
    assert [len(p) for p in [processed[:500], processed[500:1000], processed[1000:]]] == [
        500,
        500,
        1,
    ]
    assert not any(k.startswith("raw/") for k in aws.objects)


def test_a_data_quality_failure_is_not_retried(engine: Jsonata) -> None:
    aws = Aws({"raw/b1/a.csv": (1, NEW)}, glue_failures=["silver"])
    result = run(engine, aws, {"batch_id": "b1", "files": [f"s3://{LANDING}/raw/b1/a.csv"]})
    assert result.status == "FAILED" and result.error == "DataQualityError"
    assert [c["--etl_jobs"] for c in glue_calls(result)] == ["bronze", "silver"]
    assert "raw/b1/a.csv" in aws.objects  # nothing archived


def test_a_transient_failure_is_retried_once(engine: Jsonata) -> None:
    aws = Aws({"raw/b1/a.csv": (1, NEW)}, glue_failures=["silver"])
    aws.cause_for_failure = json.dumps({"JobRunState": "FAILED", "ErrorMessage": "Lost executor"})
    result = run(engine, aws, {"batch_id": "b1", "files": [f"s3://{LANDING}/raw/b1/a.csv"]})
    assert result.status == "SUCCEEDED", result.cause
    assert [c["--etl_jobs"] for c in glue_calls(result)] == ["bronze", "silver", "silver", "gold"]


def test_archive_encodes_copy_sources(engine: Jsonata) -> None:
    key = "raw/b1/orders #1 50% +été.csv"
    aws = Aws({key: (1, NEW)})
    result = run(engine, aws, {"batch_id": "b1", "files": [f"s3://{LANDING}/{key}"]})
    assert result.status == "SUCCEEDED", result.cause
    assert "archived/b1/orders #1 50% +été.csv" in aws.objects and key not in aws.objects


def released_and_alerted(result: Any) -> bool:
    """The lock was deleted and a FAILED message published, in that order, after the failure."""
    apis = [r.rsplit(":", 1)[1] for r, _ in result.calls]
    published = [json.loads(a["Message"]) for r, a in result.calls if r.endswith("sns:publish")]
    return (
        "deleteItem" in apis
        and apis[-1] == "publish"
        and apis.index("deleteItem") == len(apis) - 2
        and [m["status"] for m in published] == ["FAILED"]
    )


@pytest.mark.parametrize(
    ("failing", "failed_state"),
    [
        ("glue", "RunLayers"),
        ("startQueryExecution.sync", "RegisterTables"),
        ("copyObject", "Archive"),
    ],
)
def test_a_failure_inside_a_map_releases_the_lock_and_alerts(
    engine: Jsonata, failing: str, failed_state: str
) -> None:
    """Map iterations end in Fail states that re-report the error they caught. A name beginning
    with 'States.' (States.TaskFailed) is reserved: reporting it fails the execution with
    States.Runtime, which the Map's Catch cannot catch, so the lock would stay and nobody would
    be told."""
    aws = Aws(
        {"raw/b1/a.csv": (1, NEW)},
        glue_failures=["bronze", "bronze"] if failing == "glue" else [],
        failing_apis=() if failing == "glue" else (failing,),
    )
    aws.cause_for_failure = GLUE_RUN_FAILED
    result = run(engine, aws, {"batch_id": "b1", "files": [f"s3://{LANDING}/raw/b1/a.csv"]})
    assert result.status == "FAILED"
    assert result.error == "Pipeline.TaskFailed", (result.error, result.cause)
    assert released_and_alerted(result), result.calls[-3:]
    [message] = [json.loads(a["Message"]) for r, a in result.calls if r.endswith("sns:publish")]
    assert message["failed_state"] == failed_state


def test_the_smoke_run_stand_ins_answer_as_the_pipeline_does(engine: Jsonata) -> None:
    """smoke_run.sh's input (batch id and the uploaded files) gives the Succeeded output the
    stand-ins of test_smoke_run answer with; a bronze run that fails twice gives their error
    and cause."""
    files = [f"s3://{LANDING}/raw/smoke-1/{name}" for name in SAMPLE_FILES]
    objects = {f"raw/smoke-1/{name}": (1, NEW) for name in SAMPLE_FILES}

    class Gold(Aws):
        def __call__(self, resource: str, args: dict[str, Any]) -> Any:
            if resource.endswith("getQueryResults"):
                counts = succeeded_output("", 0)["gold_row_counts"]
                return {"ResultSet": {"Rows": [
                    {"Data": [{"VarCharValue": n} for n in counts]},
                    {"Data": [{"VarCharValue": str(c)} for c in counts.values()]},
                ]}}  # fmt: skip
            return super().__call__(resource, args)

    result = run(engine, Gold(objects), {"batch_id": "smoke-1", "files": files})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == succeeded_output("smoke-1", len(SAMPLE_FILES))

    failing = Aws(objects, glue_failures=["bronze", "bronze"])
    failing.cause_for_failure = GLUE_RUN_FAILED
    result = run(engine, failing, {"batch_id": "smoke-1", "files": files})
    assert (result.status, result.error, result.cause) == (
        "FAILED",
        LAYER_FAILED_ERROR,
        LAYER_FAILED_CAUSE,
    )
