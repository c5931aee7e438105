"""The pipeline's ASL: job order, error handling on every task, and its contract with the stack."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from tests.infrastructure.support import (
    GLUE_SYNC,
    JOB_DEPENDENCIES,
    SNS_PUBLISH,
    State,
    glue_job_of_task,
    iter_scopes,
    load_asl,
    load_template,
    successors,
)

MAP_ITEM_JOB = "{% $states.input.job %}"


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return load_asl()


def job_states(asl: dict[str, Any]) -> dict[str, str]:
    """Job → the top-level state that runs it: a Glue task with a literal --etl_job, or a Map
    whose literal Items are job names and whose processor runs the Glue task per item."""
    found: dict[str, str] = {}

    def add(job: str, state_name: str) -> None:
        assert job not in found, f"{job} runs twice ({found[job]} and {state_name})"
        found[job] = state_name

    for name, state in asl["States"].items():
        job = glue_job_of_task(state)
        if job is not None:
            assert not job.startswith("{%"), f"{name}: a top-level Glue task names its job"
            add(job, name)
        if state["Type"] == "Map":
            inner = [glue_job_of_task(s) for s in state["ItemProcessor"]["States"].values()]
            inner_jobs = [j for j in inner if j is not None]
            if not inner_jobs:
                continue
            assert inner_jobs == [MAP_ITEM_JOB], f"{name}: the processor runs the item's job"
            assert state["ItemSelector"]["job"] == "{% $states.context.Map.Item.Value %}"
            assert isinstance(state["Items"], list), f"{name}: Items must be a literal job list"
            for job in state["Items"]:
                add(job, name)
    return found


def reachable(asl: dict[str, Any], start: str, removed: frozenset[str] = frozenset()) -> set[str]:
    """Top-level states reachable from start (through Next, Choices, Default and Catch) when
    the states in `removed` are taken out of the graph."""
    states = asl["States"]
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name in removed:
            continue
        seen.add(name)
        todo.extend(successors(states[name]))
    return seen


def test_every_job_module_runs_exactly_once(asl: dict[str, Any]) -> None:
    assert set(job_states(asl)) == set(JOB_DEPENDENCIES)


def test_contract_covers_etl_jobs() -> None:
    """etl.jobs.JOBS is the source of truth: the same jobs, and every dependency it declares is
    one the ordering test below proves (the contract may only be stricter)."""
    from etl.jobs import JOBS

    assert set(JOBS) == set(JOB_DEPENDENCIES)
    for job, reads in JOBS.items():
        assert set(reads) <= set(JOB_DEPENDENCIES[job]), job


@pytest.mark.parametrize("job", sorted(JOB_DEPENDENCIES))
def test_jobs_run_after_everything_they_read(asl: dict[str, Any], job: str) -> None:
    """Topological check: with a dependency's state removed from the graph the job's state is
    unreachable, i.e. every path to the job passes through (and completes) its dependency."""
    where = job_states(asl)
    for dependency in JOB_DEPENDENCIES[job]:
        assert where[dependency] != where[job], f"{job} runs in parallel with {dependency}"
        assert where[job] in reachable(asl, asl["StartAt"])
        without = frozenset({where[dependency]})
        assert where[job] not in reachable(asl, asl["StartAt"], without), (
            f"{job} ({where[job]}) can start without {dependency} ({where[dependency]})"
        )


def test_stages_are_parallel_where_the_graph_allows(asl: dict[str, Any]) -> None:
    where = job_states(asl)
    assert where["bronze.products"] == where["bronze.orders"] == where["bronze.order_items"]
    assert where["silver.products"] == where["silver.orders"]
    assert len({where[j] for j in JOB_DEPENDENCIES if j.startswith("gold.")}) == 1


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


def test_every_task_has_retry_catch_and_timeout(asl: dict[str, Any]) -> None:
    top = asl["States"]
    tasks = 0
    for states, enclosing in iter_scopes(top):
        for name, state in states.items():
            if state["Type"] != "Task":
                continue
            tasks += 1
            where = f"{enclosing + '/' if enclosing else ''}{name}"
            assert isinstance(state.get("TimeoutSeconds"), int), f"{where}: TimeoutSeconds"
            assert 0 < state["TimeoutSeconds"] <= 86400, where
            retries = state.get("Retry") or []
            assert retries, f"{where}: no Retry"
            for retry in retries:
                assert retry.get("BackoffRate", 0) >= 1, f"{where}: Retry without BackoffRate"
                assert retry.get("MaxAttempts", 3) >= 1 and retry.get("IntervalSeconds", 1) >= 1
            catches = state.get("Catch") or []
            assert any("States.ALL" in c["ErrorEquals"] for c in catches), f"{where}: no Catch-all"
            for catch in catches:
                if enclosing is None:
                    # Top level: the catch leads, without a branch, to an SNS publish and a Fail
                    # (the failure notifier itself only has to reach the Fail).
                    ok = _failure_path_ok(
                        top, catch["Next"], notified=_is_failure_notifier(top, state)
                    )
                    assert ok, f"{where}: Catch does not lead to SNS publish → Fail"
                else:
                    # In a Map/Parallel: the catch ends the item in a Fail, which fails the
                    # enclosing state, whose own Catch must lead to SNS publish → Fail.
                    assert states[catch["Next"]]["Type"] == "Fail", where
                    outer = top[enclosing]
                    assert any(
                        "States.ALL" in c["ErrorEquals"]
                        and _failure_path_ok(top, c["Next"], notified=False)
                        for c in outer.get("Catch", [])
                    ), f"{enclosing}: no Catch leading to SNS publish → Fail"
    assert tasks >= 15


def test_failures_report_error_and_cause(asl: dict[str, Any]) -> None:
    """Every catch outside the failure path records error and cause; the failure notification
    publishes them (with the failed state and the input) and the final Fail re-raises them."""
    top = asl["States"]
    failure_path: set[str] = set()
    for state in top.values():
        for catch in state.get("Catch", []):
            failure_path |= reachable(asl, catch["Next"])
    for name, state in top.items():
        if name in failure_path:
            continue
        for catch in state.get("Catch", []):
            assigned = catch.get("Assign", {})
            assert "$states.errorOutput.Error" in assigned.get("error", ""), name
            assert "$states.errorOutput.Cause" in assigned.get("cause", ""), name
    notifiers = [s for s in top.values() if _is_failure_notifier(top, s)]
    assert len(notifiers) == 1
    message = notifiers[0]["Arguments"]["Message"]
    for variable in ("$error", "$cause", "$failed_state", "$batch_id", "$request"):
        assert variable in message
    # Init declares every variable the failure path reads, so it works from any state.
    init = top[asl["StartAt"]]
    assert {"error", "cause", "failed_state", "batch_id", "request"} <= set(init["Assign"])


def test_concurrency_guard(asl: dict[str, Any]) -> None:
    """A conditional put takes the lock before any job; every way out after it releases it."""
    top = asl["States"]
    acquire = [
        n for n, s in top.items() if s.get("Resource") == "arn:aws:states:::dynamodb:putItem"
    ]
    assert len(acquire) == 1
    lock = top[acquire[0]]
    assert "attribute_not_exists(lock_id)" in lock["Arguments"]["ConditionExpression"]
    # Waiting for the lock is a retry on the failed condition.
    assert any(
        r["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"] for r in lock["Retry"]
    )
    # No job can run without the lock.
    for state_name in set(job_states(asl).values()):
        assert state_name not in reachable(asl, asl["StartAt"], frozenset(acquire))
    # Every Succeed is reached only through a release, which deletes the item only for its owner.
    releases = {
        n for n, s in top.items() if s.get("Resource") == "arn:aws:states:::dynamodb:deleteItem"
    }
    for name in releases:
        assert "#owner = :me" in top[name]["Arguments"]["ConditionExpression"]
    for name, state in top.items():
        if state["Type"] == "Succeed":
            assert name in reachable(asl, lock["Next"])
            assert name not in reachable(asl, lock["Next"], frozenset(releases)), (
                f"{name} is reachable without releasing the lock"
            )


def test_failures_after_the_lock_release_it(asl: dict[str, Any]) -> None:
    top = asl["States"]
    lock_name = next(n for n, s in top.items() if s.get("Resource", "").endswith("putItem"))
    for name in reachable(asl, top[lock_name]["Next"]):
        state = top[name]
        if state.get("Resource", "").endswith(("deleteItem", "sns:publish")):
            continue  # the release and notification states themselves
        for catch in state.get("Catch", []):
            assert catch["Next"] == "ReleaseLockOnFailure", f"{name} fails without releasing"
    # ...and a failure to take the lock must not release someone else's.
    assert all(c["Next"] != "ReleaseLockOnFailure" for c in top[lock_name]["Catch"])


def test_substitutions_match_the_template(asl: dict[str, Any]) -> None:
    """Every ${Name} in the ASL is substituted by the stack, and nothing else is passed."""
    template = load_template()
    machine = template["Resources"]["PipelineStateMachine"]["Properties"]
    used = set(re.findall(r"\$\{(\w+)\}", json.dumps(asl)))
    assert used == set(machine["DefinitionSubstitutions"])
    assert machine["DefinitionS3Location"] == "../statemachine/pipeline.asl.json"


def test_glue_tasks_fit_the_glue_job(asl: dict[str, Any]) -> None:
    """Parallel Glue stages fit MaxConcurrentRuns; task timeouts outlast Glue's own timeout."""
    template = load_template()
    job = template["Resources"]["EtlJob"]["Properties"]
    max_runs = job["ExecutionProperty"]["MaxConcurrentRuns"]
    glue_timeout_max = template["Parameters"]["GlueJobTimeoutMinutes"]["MaxValue"] * 60
    for states, enclosing in iter_scopes(asl["States"]):
        for name, state in states.items():
            if state.get("Resource") != GLUE_SYNC:
                continue
            assert state["Arguments"]["JobName"] == "${GlueJobName}"
            assert state["TimeoutSeconds"] > glue_timeout_max, name
            if enclosing is not None:
                parent = asl["States"][enclosing]
                assert min(parent["MaxConcurrency"], len(parent["Items"])) <= max_runs


def test_pipeline_ends_with_catalog_check_archive_and_notify(asl: dict[str, Any]) -> None:
    top = asl["States"]
    gold = job_states(asl)["gold.daily_sales"]
    order = ["RegisterTables", "CheckGold", "ReadGoldCounts", "GoldHasRows", "Archive"]
    assert top[gold]["Next"] == order[0]
    for before, after in itertools.pairwise(order):
        assert after in successors(top[before], with_catch=False)
    ddl = top["RegisterTables"]["Items"]
    assert len(ddl) == 7 and all("TBLPROPERTIES ('table_type'='DELTA')" in q for q in ddl)
    assert top["CheckGold"]["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert top["Archive"]["Next"] == "ReleaseLock"
    assert top["ReleaseLock"]["Next"] == "NotifySuccess"
    assert top["NotifySuccess"]["Resource"] == SNS_PUBLISH
