"""The state machines' structure: one writer per Delta table, the lock, layer order, error
handling on every task, the parts generated from etl.registry, and the contract with the stack."""

from __future__ import annotations

import copy
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from etl import registry
from tests.infrastructure.asl_sim import Jsonata
from tests.infrastructure.one_writer import GLUE_SYNC, concurrent_write_conflicts
from tests.infrastructure.support import (
    ASL_FILE,
    ASL_FILES,
    MAINTENANCE_ASL_FILE,
    REPO,
    SNS_PUBLISH,
    State,
    iter_scopes,
    load_asl,
    load_template,
    node_tools,
    successors,
)

PUT_ITEM = "arn:aws:states:::dynamodb:putItem"
DELETE_ITEM = "arn:aws:states:::dynamodb:deleteItem"
MACHINES = {
    ASL_FILE.name: "PipelineStateMachine",
    MAINTENANCE_ASL_FILE.name: "MaintenanceStateMachine",
}


@pytest.fixture(scope="module")
def engine() -> Iterator[Jsonata]:
    jsonata = Jsonata(node_tools())
    yield jsonata
    jsonata.close()


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return load_asl()


def reachable(
    states: dict[str, State], start: str, removed: frozenset[str] = frozenset()
) -> set[str]:
    """States reachable from start (Next, Choices, Default, Catch) with `removed` taken out."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name in removed:
            continue
        seen.add(name)
        todo.extend(successors(states[name]))
    return seen


def glue_states(asl: dict[str, Any]) -> set[str]:
    """Top-level states that start Glue runs (a Glue task, or a Map/Parallel holding one)."""
    found = set()
    for name, state in asl["States"].items():
        inner = json.dumps(state)
        if GLUE_SYNC in inner:
            found.add(name)
    return found


# --------------------------------------------------------------------------- one writer
def test_layers_run_one_glue_run_each_in_order(asl: dict[str, Any]) -> None:
    """One Glue run per layer, each after the previous one ends: a Map over the registry's
    layers with MaxConcurrency 1 (which runs items in order, one at a time)."""
    [runner] = glue_states(asl)
    layers = asl["States"][runner]
    assert layers["Type"] == "Map"
    assert layers["Items"] == list(registry.LAYERS)
    assert layers["MaxConcurrency"] == 1
    assert {job.layer for job in registry.JOBS} == set(layers["Items"])


def test_no_two_runs_that_can_overlap_write_a_common_table(engine: Jsonata) -> None:
    for path in ASL_FILES:
        assert concurrent_write_conflicts(load_asl(path), engine) == [], path.name


def test_the_check_fails_on_the_old_per_job_maps(engine: Jsonata, asl: dict[str, Any]) -> None:
    """The definition this replaced ran the three bronze jobs (and the four gold jobs) as
    parallel Map iterations, separate Glue runs that all commit to _audit/runs."""
    broken = copy.deepcopy(asl)
    broken["States"]["RunLayers"]["Items"] = [j.name for j in registry.JOBS if j.layer == "bronze"]
    broken["States"]["RunLayers"]["MaxConcurrency"] = 3
    problems = concurrent_write_conflicts(broken, engine)
    assert len(problems) == 3, problems  # every pair of the three bronze jobs
    assert all("_audit/ingested_files" in p and "_audit/runs" in p for p in problems)


def test_the_check_fails_on_parallel_layers_and_on_unbounded_maps(
    engine: Jsonata, asl: dict[str, Any]
) -> None:
    unbounded = copy.deepcopy(asl)
    del unbounded["States"]["RunLayers"]["MaxConcurrency"]  # 0, no limit
    assert any("'_audit/runs'" in p for p in concurrent_write_conflicts(unbounded, engine))

    processor = asl["States"]["RunLayers"]["ItemProcessor"]
    branch = copy.deepcopy({k: v for k, v in processor.items() if k != "ProcessorConfig"})
    branch["States"]["StartLayer"]["Assign"]["layer"] = "gold"
    parallel = copy.deepcopy(asl)
    parallel["States"]["RunLayers"] = {
        "Type": "Parallel",
        "Branches": [branch, branch],
        "Next": asl["States"]["RunLayers"]["Next"],
    }
    problems = concurrent_write_conflicts(parallel, engine)
    assert problems and all("RunLayers[0] and RunLayers[1]" in p for p in problems), problems


def test_glue_allows_one_run_at_a_time() -> None:
    """A second line of defence behind the lock: Glue itself refuses a second concurrent run of
    the job (ConcurrentRunsExceededException), also for manual runs outside the pipeline."""
    resources = load_template()["Resources"]
    [job] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Glue::Job"]
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] == 1


# --------------------------------------------------------------------------- the lock
@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_no_glue_run_without_the_lock(path: Any) -> None:
    asl = load_asl(path)
    states = asl["States"]
    acquire = [n for n, s in states.items() if s.get("Resource") == PUT_ITEM]
    assert len(acquire) == 1
    runners = glue_states(asl)
    assert runners
    for name in runners:
        assert name in reachable(states, asl["StartAt"])
        assert name not in reachable(states, asl["StartAt"], frozenset(acquire)), name
    # Every Succeed is reached only through a release, which deletes only the owner's item.
    releases = {n for n, s in states.items() if s.get("Resource") == DELETE_ITEM}
    for name in releases:
        assert states[name]["Arguments"]["ConditionExpression"] == "#owner = :me"
    lock_next = states[acquire[0]]["Next"]
    for name, state in states.items():
        if state["Type"] == "Succeed":
            assert name not in reachable(states, lock_next, frozenset(releases)), name


def test_both_machines_take_the_same_lock() -> None:
    locks = []
    for path in ASL_FILES:
        [put] = [s for s in load_asl(path)["States"].values() if s.get("Resource") == PUT_ITEM]
        arguments = put["Arguments"]
        locks.append((arguments["TableName"], json.dumps(arguments["Item"]["lock_id"])))
        assert arguments["ConditionExpression"] == (
            "attribute_not_exists(lock_id) OR expires_at < :now"
        )
        assert put["Retry"][0]["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
        for state in load_asl(path)["States"].values():
            if state.get("Resource") == DELETE_ITEM:
                locks.append(
                    (
                        state["Arguments"]["TableName"],
                        json.dumps(state["Arguments"]["Key"]["lock_id"]),
                    )
                )
    assert len(set(locks)) == 1, locks
    machines = load_template()["Resources"]
    for machine in MACHINES.values():
        substitutions = machines[machine]["Properties"]["DefinitionSubstitutions"]
        assert substitutions["LockTable"] == {"Ref": "PipelineLockTable"}


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_the_lock_expires_when_the_execution_times_out(path: Any, engine: Jsonata) -> None:
    """expires_at is the execution's start plus its TimeoutSeconds, evaluated: however long the
    execution waited for the lock, the lock cannot outlive it."""
    asl = load_asl(path)
    [put] = [s for s in asl["States"].values() if s.get("Resource") == PUT_ITEM]
    for start, epoch in (
        ("2025-05-01T05:00:00.000Z", 1746075600),
        ("2025-12-31T23:59:59.999Z", 1767225599),
    ):
        states = {"context": {"Execution": {"StartTime": start}}}
        expires = engine.evaluate(
            put["Arguments"]["Item"]["expires_at"]["N"][2:-2], {"states": states}
        )
        assert expires == str(epoch + asl["TimeoutSeconds"])
    # Waiting for the lock stays well inside the timeout (about two hours of retries).
    wait = put["Retry"][0]
    total, interval = 0.0, float(wait["IntervalSeconds"])
    for _ in range(wait["MaxAttempts"]):
        total += min(interval, wait["MaxDelaySeconds"])
        interval *= wait["BackoffRate"]
    assert total < asl["TimeoutSeconds"] / 2


# --------------------------------------------------------------------------- generated parts
def test_state_machines_are_rendered_from_the_registry() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "render_state_machines.py"), "--check"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_ddl_and_gold_check_cover_exactly_the_catalog_tables(asl: dict[str, Any]) -> None:
    ddl = asl["States"]["RegisterTables"]["Items"]
    registered = {
        re.match(r"CREATE EXTERNAL TABLE IF NOT EXISTS \$\{(\w+)\}\.(\w+) ", q).groups()  # type: ignore[union-attr]
        for q in ddl
    }
    databases = {"silver": "SilverDatabase", "gold": "GoldDatabase"}
    assert registered == {(databases[layer], name) for layer, name in registry.catalog_tables()}
    for (layer, name), query in zip(registry.catalog_tables(), ddl, strict=True):
        assert f"LOCATION 's3://${{LakehouseBucket}}/{layer}/{name}/'" in query
        assert query.endswith("TBLPROPERTIES ('table_type'='DELTA')")
    check = asl["States"]["CheckGold"]["Arguments"]["QueryString"]
    gold = [name for layer, name in registry.catalog_tables() if layer == "gold"]
    assert re.findall(r"FROM \$\{GoldDatabase\}\.(\w+)\) AS (\w+)", check) == [(g, g) for g in gold]
    condition = asl["States"]["GoldHasRows"]["Choices"][0]["Condition"]
    assert f"$count($keys($gold_counts)) = {len(gold)}" in condition


def test_a_new_gold_table_reaches_the_state_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import render_state_machines as render
    finally:
        sys.path.pop(0)
    tables = [*registry.catalog_tables(), ("gold", "weekly_sales")]
    monkeypatch.setattr(render, "catalog_tables", lambda: tables)
    rendered = render.render_pipeline(load_asl())
    assert any(".weekly_sales LOCATION" in q for q in rendered["States"]["RegisterTables"]["Items"])
    assert "AS weekly_sales" in rendered["States"]["CheckGold"]["Arguments"]["QueryString"]
    assert render.dump(rendered) != ASL_FILE.read_text()  # so --check would fail


# --------------------------------------------------------------------------- error handling
def _failure_path_ok(states: dict[str, State], start: str, *, notified: bool) -> bool:
    """From a catch target: straight-line states (no Choice) that publish to SNS, then Fail."""
    name: str | None = start
    seen: set[str] = set()
    while name is not None and name not in seen:
        seen.add(name)
        state = states[name]
        if state["Type"] == "Fail":
            return notified
        if state["Type"] == "Choice":
            return False
        if state.get("Resource") == SNS_PUBLISH:
            notified = True
        name = state.get("Next")
    return False


def _is_failure_notifier(states: dict[str, State], state: State) -> bool:
    return state.get("Resource") == SNS_PUBLISH and states[state["Next"]]["Type"] == "Fail"


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_every_task_has_retry_catch_and_timeout(path: Any) -> None:
    asl = load_asl(path)
    top = asl["States"]
    assert 0 < asl["TimeoutSeconds"] <= 86400
    for states, enclosing in iter_scopes(top):
        for name, state in states.items():
            if state["Type"] != "Task":
                continue
            where = f"{enclosing + '/' if enclosing else ''}{name}"
            assert isinstance(state.get("TimeoutSeconds"), int), f"{where}: TimeoutSeconds"
            assert state.get("Retry"), f"{where}: no Retry"
            for retry in state["Retry"]:
                assert retry.get("BackoffRate", 0) >= 1, f"{where}: Retry without BackoffRate"
            catches = state.get("Catch") or []
            assert any("States.ALL" in c["ErrorEquals"] for c in catches), f"{where}: no Catch-all"
            if enclosing is None:
                for catch in catches:
                    ok = _failure_path_ok(
                        top, catch["Next"], notified=_is_failure_notifier(top, state)
                    )
                    assert ok, f"{where}: Catch does not lead to SNS publish → Fail"
            else:
                outer = top[enclosing]
                assert any(
                    "States.ALL" in c["ErrorEquals"]
                    and _failure_path_ok(top, c["Next"], notified=False)
                    for c in outer.get("Catch", [])
                ), f"{enclosing}: no Catch leading to SNS publish → Fail"


CAUGHT_ERRORS = ("States.TaskFailed", "States.Timeout", "States.Permissions", "Glue.X")


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_no_fail_state_reports_a_reserved_error_name(path: Any, engine: Jsonata) -> None:
    """ "States can report errors with other names. However, these error names can't begin with
    the States. prefix" (Step Functions, Handling errors in workflows). A Fail state that
    re-reports a caught States.TaskFailed fails the execution with States.Runtime instead, which
    "States.ALL ... can't catch": inside a Map, the lock would stay and nobody be alerted. Each
    Fail state's Error is evaluated for every error a Catch can hand it."""
    for states, enclosing in iter_scopes(load_asl(path)["States"]):
        for name, state in states.items():
            if state["Type"] != "Fail":
                continue
            error = state.get("Error", "")
            if not error.startswith("{%"):
                assert not error.startswith("States."), (enclosing, name, error)
                continue
            variables = set(re.findall(r"\$([a-z_]+)\b", error)) - {"states", "replace"}
            for caught in CAUGHT_ERRORS:
                bindings: dict[str, Any] = {v: caught for v in variables}
                bindings |= {"data_quality": False, "states": {"input": {"Error": caught}}}
                reported = engine.evaluate(error[2:-2].strip(), bindings)
                assert isinstance(reported, str) and reported, (name, caught, reported)
                assert not reported.startswith("States."), (enclosing, name, caught, reported)


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_failures_after_the_lock_release_it(path: Any) -> None:
    asl = load_asl(path)
    top = asl["States"]
    lock = next(n for n, s in top.items() if s.get("Resource") == PUT_ITEM)
    for name in reachable(top, top[lock]["Next"]):
        state = top[name]
        if state.get("Resource") in (
            DELETE_ITEM,
            SNS_PUBLISH,
            "arn:aws:states:::states:startExecution",
        ):
            continue  # the release and notification states, and what runs after the release
        for catch in state.get("Catch", []):
            assert catch["Next"] == "ReleaseLockOnFailure", f"{name} fails without releasing"
    assert all(c["Next"] != "ReleaseLockOnFailure" for c in top[lock]["Catch"])
    # The failure notification publishes what went wrong; Init declares what it reads.
    notifier = next(s for s in top.values() if _is_failure_notifier(top, s))
    for variable in ("$error", "$cause", "$failed_state", "$batch_id", "$request"):
        assert variable in notifier["Arguments"]["Message"]
    assert {"error", "cause", "failed_state", "batch_id", "request"} <= set(top["Init"]["Assign"])


def test_a_data_quality_failure_is_told_apart_from_a_transient_one(asl: dict[str, Any]) -> None:
    """Retry cannot look at a Cause, so a failed layer run is caught, classified by the Glue
    job run's ErrorMessage, and retried by hand only when it is not a data-quality failure
    (tests/infrastructure/test_pipeline_runs.py runs both cases)."""
    processor = asl["States"]["RunLayers"]["ItemProcessor"]["States"]
    run = processor["RunLayer"]
    for retry in run["Retry"]:
        assert not {"States.ALL", "States.TaskFailed"} & set(retry["ErrorEquals"]), retry
    [catch] = run["Catch"]
    assert "DataQualityError:" in catch["Assign"]["data_quality"]
    assert "$not($data_quality)" in processor[catch["Next"]]["Choices"][0]["Condition"]


# ----------------------------------------------------------------------- contract with the stack
@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_substitutions_match_the_template(path: Any) -> None:
    machine = load_template()["Resources"][MACHINES[path.name]]["Properties"]
    used = set(re.findall(r"\$\{(\w+)\}", path.read_text()))
    assert used == set(machine["DefinitionSubstitutions"])
    assert machine["DefinitionS3Location"] == f"../statemachine/{path.name}"


def test_glue_tasks_outlast_the_glue_timeout() -> None:
    template = load_template()
    glue_timeout_max = template["Parameters"]["GlueJobTimeoutMinutes"]["MaxValue"] * 60
    for path in ASL_FILES:
        for states, _ in iter_scopes(load_asl(path)["States"]):
            for name, state in states.items():
                if state.get("Resource") == GLUE_SYNC:
                    assert state["Arguments"]["JobName"] == "${GlueJobName}"
                    assert state["TimeoutSeconds"] > glue_timeout_max, name


def test_pipeline_ends_with_catalog_check_archive_and_notify(asl: dict[str, Any]) -> None:
    top = asl["States"]
    order = [
        "RunLayers",
        "RegisterTables",
        "CheckGold",
        "ReadGoldCounts",
        "GoldHasRows",
        "Archive",
        "ReleaseLock",
    ]
    for before, after in itertools.pairwise(order):
        assert after in successors(top[before], with_catch=False), (before, after)
    assert top["CheckGold"]["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
