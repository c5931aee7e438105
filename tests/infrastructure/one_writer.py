"""The one-writer rule over the state machines: which Glue runs can overlap, and what they write.

delta-spark's default S3 LogStore is safe only for concurrent writers inside one Spark driver
(docs/deployment.md, "One writer per Delta table"). A Glue run is one driver, so two Glue runs
that can be in flight at the same time must not write a common Delta table. Within one
execution, runs overlap only in the iterations of a Map whose MaxConcurrency is not 1 and in
the branches of a Parallel; across executions, only if two executions can hold the lakehouse
at once, which the lock prevents (checked separately).

What a run writes comes from etl.registry: its `--etl_jobs` selector (a layer, job names, or
`maintenance`) names jobs, and each JobSpec lists the tables it writes. The selector of every
iteration and branch is found by running that iteration with the JSONata simulator, so an
expression such as `$merge([{'--etl_jobs': $layer}, ...])` is resolved exactly as Step
Functions would resolve it.
"""

from __future__ import annotations

import itertools
from typing import Any

from etl import registry
from tests.infrastructure.asl_sim import Jsonata, Simulator

GLUE_SYNC = "arn:aws:states:::glue:startJobRun.sync"

SAMPLE_INPUT = {"batch_id": "b1", "files": ["s3://landing/raw/b1/orders.csv"]}


def writes_of_selector(selector: str) -> set[str]:
    """Tables a Glue run with `--etl_jobs <selector>` writes; ValueError for an unknown one."""
    if selector.strip() == "maintenance":
        return set(registry.all_tables())  # OPTIMIZE and VACUUM rewrite every table
    return {table for job in registry.select_jobs(selector) for table in job.writes}


def _permissive(resource: str, arguments: dict[str, Any]) -> Any:
    if resource == GLUE_SYNC:
        return {"Id": "jr_1", "JobRunState": "SUCCEEDED", "ExecutionTime": 1}
    return {}


def _glue_selectors(
    machine: dict[str, Any], data: Any, engine: Jsonata, outer: dict[str, Any]
) -> list[str]:
    """The `--etl_jobs` of every Glue run one pass through `machine` starts, in order."""
    simulator = Simulator(machine, engine, _permissive)
    run = simulator.run_in_scope(data, outer)
    return [
        str(arguments["Arguments"]["--etl_jobs"])
        for resource, arguments in run.calls
        if resource == GLUE_SYNC
    ]


def _concurrent(state: dict[str, Any]) -> bool:
    if state["Type"] == "Parallel":
        return len(state["Branches"]) > 1
    if state["Type"] == "Map":
        return state.get("MaxConcurrency", 0) != 1
    return False


def _walk(states: dict[str, Any], where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in states.items():
        found.append((where + name, state))
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            found += _walk(processor["States"], f"{where}{name}/")
        elif state["Type"] == "Parallel":
            for i, branch in enumerate(state["Branches"]):
                found += _walk(branch["States"], f"{where}{name}[{i}]/")
    return found


def top_level_variables(asl: dict[str, Any], engine: Jsonata) -> dict[str, Any]:
    """The variables the first (Init) state assigns for a sample input: the outer scope that
    iterations read."""
    init = {
        "StartAt": asl["StartAt"],
        "States": {asl["StartAt"]: {**asl["States"][asl["StartAt"]]}},
    }
    init["States"][asl["StartAt"]].pop("Next", None)
    init["States"][asl["StartAt"]]["End"] = True
    return Simulator(init, engine, _permissive).run(SAMPLE_INPUT).variables


def concurrent_write_conflicts(asl: dict[str, Any], engine: Jsonata) -> list[str]:
    """Every pair of Glue runs that can be in flight together and write a common table (or
    whose writes cannot be determined), described; empty when the rule holds."""
    outer = top_level_variables(asl, engine)
    problems: list[str] = []
    for where, state in _walk(asl["States"]):
        if not _concurrent(state):
            continue
        units: list[tuple[str, list[str]]] = []
        if state["Type"] == "Parallel":
            for i, branch in enumerate(state["Branches"]):
                units.append((f"{where}[{i}]", _glue_selectors(branch, {}, engine, outer)))
        else:
            items = state.get("Items")
            processor = state.get("ItemProcessor") or state["Iterator"]
            has_glue = any(s.get("Resource") == GLUE_SYNC for _, s in _walk(processor["States"]))
            if not has_glue:
                continue
            if not isinstance(items, list):
                problems.append(f"{where}: runs Glue jobs over items that are not a literal list")
                continue
            for index, value in enumerate(items):
                selected = value
                if "ItemSelector" in state:
                    selector_machine = {
                        "StartAt": "Select",
                        "States": {
                            "Select": {"Type": "Pass", "Output": state["ItemSelector"], "End": True}
                        },
                    }
                    simulator = Simulator(selector_machine, engine, _permissive)
                    selected = simulator.run_in_scope(
                        None, outer, map_item={"Index": index, "Value": value}
                    ).output
                units.append(
                    (f"{where}[{value}]", _glue_selectors(processor, selected, engine, outer))
                )
        writes: list[tuple[str, set[str]]] = []
        for unit, selectors in units:
            tables: set[str] = set()
            for selector in selectors:
                try:
                    tables |= writes_of_selector(selector)
                except ValueError:
                    problems.append(f"{unit}: unknown --etl_jobs {selector!r}")
            writes.append((unit, tables))
        for (a, wa), (b, wb) in itertools.combinations(writes, 2):
            common = wa & wb
            if common:
                problems.append(f"{a} and {b} can run at once and both write {sorted(common)}")
    return problems
