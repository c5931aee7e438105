"""Paths, the job graph and small helpers shared by the infrastructure tests."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infrastructure"
TEMPLATES = sorted((INFRA / "templates").glob("*.yaml"))
MAIN_TEMPLATE = INFRA / "templates" / "lakehouse.yaml"
ASL_FILE = INFRA / "statemachine" / "pipeline.asl.json"
DEPLOY_SH = INFRA / "deploy.sh"
RUN_JOB = INFRA / "glue" / "run_job.py"
# Console scripts of the uv environment the tests run in (cfn-lint, aws, moto_server).
VENV_BIN = Path(sys.executable).parent

# The jobs of the etl package and what each reads: the deployment contract the state machine is
# checked against. test_statemachine proves it covers etl.jobs.JOBS (same jobs, every declared
# dependency included; gold is stricter here: each gold job waits for all of silver).
JOB_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "bronze.products": (),
    "bronze.orders": (),
    "bronze.order_items": (),
    "silver.products": ("bronze.products",),
    "silver.orders": ("bronze.orders",),
    "silver.order_items": ("bronze.order_items", "silver.orders", "silver.products"),
    **{
        f"gold.{name}": ("silver.products", "silver.orders", "silver.order_items")
        for name in (
            "daily_sales",
            "product_performance",
            "department_analytics",
            "customer_insights",
        )
    },
}

GLUE_SYNC = "arn:aws:states:::glue:startJobRun.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"

State = dict[str, Any]


def load_asl() -> dict[str, Any]:
    asl: dict[str, Any] = json.loads(ASL_FILE.read_text())
    return asl


def load_template(path: Path = MAIN_TEMPLATE) -> dict[str, Any]:
    """A CloudFormation template with its short-form tags (!Ref, !Sub) decoded by cfn-lint."""
    from cfnlint.decode import decode

    template, errors = decode(str(path))
    assert not errors, errors
    assert template is not None
    return dict(template)


def iter_scopes(
    states: dict[str, State], enclosing: str | None = None
) -> Iterator[tuple[dict[str, State], str | None]]:
    """Every `States` object of a machine (top level, Map processors, Parallel branches),
    with the name of the Map/Parallel state that encloses it (None at the top level)."""
    yield states, enclosing
    for name, state in states.items():
        for inner in _inner_machines(state):
            yield from iter_scopes(inner["States"], name)


def _inner_machines(state: State) -> list[dict[str, Any]]:
    if state["Type"] == "Map":
        return [state.get("ItemProcessor") or state["Iterator"]]
    if state["Type"] == "Parallel":
        return list(state["Branches"])
    return []


def successors(state: State, *, with_catch: bool = True) -> list[str]:
    """States a state can hand over to."""
    nexts = [state["Next"]] if "Next" in state else []
    nexts += [choice["Next"] for choice in state.get("Choices", [])]
    if "Default" in state:
        nexts.append(state["Default"])
    if with_catch:
        nexts += [catcher["Next"] for catcher in state.get("Catch", [])]
    return nexts


def glue_job_of_task(state: State) -> str | None:
    """The --etl_job argument of a Glue task (literal or a JSONata expression), else None."""
    if state.get("Type") != "Task" or state.get("Resource") != GLUE_SYNC:
        return None
    job: str = state["Arguments"]["Arguments"]["--etl_job"]
    return job
