"""A small runner for the JSONata state machines of infrastructure/statemachine, for tests.

It walks a definition state by state the way Step Functions does (Pass, Task, Choice, Wait,
Map, Parallel, Succeed, Fail; Assign, Output, Arguments, Retry and Catch; variable scopes of Map
iterations) and evaluates every `{% ... %}` expression with the reference JSONata
implementation, jsonata 2.0.6 run by node (the version Step Functions implements). Tasks are
answered by a handler the test supplies (for example moto's S3 and DynamoDB, or a stand-in
Glue). Retry counts attempts but does not wait; TimeoutSeconds and MaxConcurrency are not
simulated (the tests assert them on the definition). As in Step Functions, a Fail state that
reports an error name beginning with `States.` fails with States.Runtime, which neither
States.ALL nor States.TaskFailed catches. Only what the tests need is here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNDEFINED: Any = type("Undefined", (), {"__repr__": lambda self: "UNDEFINED"})()


class JsonataError(Exception):
    """An expression failed to evaluate (Step Functions: States.QueryEvaluationError)."""


class Jsonata:
    """The reference JSONata implementation in one long-lived node process."""

    def __init__(self, node_modules: Path) -> None:
        script = node_modules.parent / "jsonata_eval.js"
        self._process = subprocess.Popen(
            ["node", str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )

    def evaluate(self, expression: str, bindings: dict[str, Any], data: Any = None) -> Any:
        assert self._process.stdin and self._process.stdout
        request = {"expression": expression, "input": data, "bindings": bindings}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        if "error" in answer:
            raise JsonataError(f"{expression!r}: {answer['error']}")
        return UNDEFINED if answer.get("undefined") else answer["value"]

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=10)


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def substitute(definition: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The definition with CloudFormation's DefinitionSubstitutions (`${Name}`) applied."""
    text = json.dumps(definition)
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, "a substitution is missing"
    result: dict[str, Any] = json.loads(text)
    return result


class TaskFailure(Exception):
    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


Handler = Callable[[str, dict[str, Any]], Any]


@dataclass
class Run:
    status: str  # SUCCEEDED or FAILED
    output: Any = None
    error: str = ""
    cause: str = ""
    visited: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)


class _Scope:
    def __init__(self, parent: _Scope | None = None) -> None:
        self.parent, self.values = parent, {}  # type: tuple[_Scope | None, dict[str, Any]]

    def flat(self) -> dict[str, Any]:
        outer = self.parent.flat() if self.parent else {}
        return {**outer, **self.values}


class _Failed(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(error)
        self.error, self.cause = error, cause


# Errors no wildcard catches or retries: "States.ALL ... can't catch the
# States.DataLimitExceeded terminal error or Runtime error types" (Step Functions, Handling
# errors in workflows).
UNCATCHABLE = ("States.Runtime", "States.DataLimitExceeded")


def _matches(names: list[str], error: str) -> bool:
    if error in names:
        return True
    if error in UNCATCHABLE:
        return False
    if "States.ALL" in names:
        return True
    return "States.TaskFailed" in names and error != "States.Timeout"


class Simulator:
    def __init__(
        self,
        definition: dict[str, Any],
        engine: Jsonata,
        handler: Handler,
        *,
        execution_id: str = "arn:aws:states:eu-west-1:123456789012:execution:machine:run-1",
        start_time: str = "2025-05-01T05:00:00.000Z",
        state_machine_id: str = "arn:aws:states:eu-west-1:123456789012:stateMachine:machine",
    ) -> None:
        self.definition, self.engine, self.handler = definition, engine, handler
        self.context: dict[str, Any] = {
            "Execution": {
                "Id": execution_id,
                "Name": execution_id.rsplit(":", 1)[1],
                "StartTime": start_time,
            },
            "StateMachine": {"Id": state_machine_id, "Name": state_machine_id.rsplit(":", 1)[1]},
        }

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, value: Any, scope: _Scope, states: dict[str, Any]) -> Any:
        """A field value with every `{% %}` expression in it evaluated."""
        if is_expression(value):
            bindings = {**scope.flat(), "states": states}
            result = self.engine.evaluate(value[2:-2].strip(), bindings)
            if result is UNDEFINED:
                raise _Failed("States.QueryEvaluationError", f"{value} is undefined")
            return result
        if isinstance(value, dict):
            return {k: self.evaluate(v, scope, states) for k, v in value.items()}
        if isinstance(value, list):
            return [self.evaluate(v, scope, states) for v in value]
        return value

    def _states(self, state_name: str, data: Any, **extra: Any) -> dict[str, Any]:
        context = {**self.context, "State": {"Name": state_name}, **extra.pop("context", {})}
        return {"input": data, "context": context, **extra}

    def _assign(self, spec: dict[str, Any] | None, scope: _Scope, states: dict[str, Any]) -> None:
        if spec:
            # Every assignment sees the values from before the state (as in Step Functions).
            scope.values.update(self.evaluate(spec, scope, states))

    # ------------------------------------------------------------------ running
    def run(self, data: Any) -> Run:
        self.context["Execution"]["Input"] = data
        run = Run(status="SUCCEEDED")
        scope = _Scope()
        try:
            run.output = self._machine(self.definition, data, scope, run, "")
        except _Failed as failure:
            run.status, run.error, run.cause = "FAILED", failure.error, failure.cause
        run.variables = scope.values
        return run

    def run_in_scope(
        self, data: Any, variables: dict[str, Any], map_item: dict[str, Any] | None = None
    ) -> Run:
        """Runs the definition as a Map iteration or Parallel branch would: reading the given
        outer variables, with `$states.context.Map.Item` set when map_item is given."""
        outer = _Scope()
        outer.values.update(variables)
        scope = _Scope(outer)
        run = Run(status="SUCCEEDED")
        try:
            map_context = {"Item": map_item} if map_item is not None else None
            run.output = self._machine(self.definition, data, scope, run, "", map_context)
        except _Failed as failure:
            run.status, run.error, run.cause = "FAILED", failure.error, failure.cause
        run.variables = scope.values
        return run

    def _machine(
        self,
        machine: dict[str, Any],
        data: Any,
        scope: _Scope,
        run: Run,
        prefix: str,
        map_context: dict[str, Any] | None = None,
    ) -> Any:
        name: str | None = machine["StartAt"]
        while name is not None:
            state = machine["States"][name]
            run.visited.append(prefix + name)
            extra = {"context": {"Map": map_context}} if map_context else {}
            name, data = self._state(name, state, data, scope, run, prefix, extra)
        return data

    def _state(
        self,
        name: str,
        state: dict[str, Any],
        data: Any,
        scope: _Scope,
        run: Run,
        prefix: str,
        extra: dict[str, Any],
    ) -> tuple[str | None, Any]:
        kind = state["Type"]
        states = self._states(name, data, **extra)
        nxt = None if state.get("End") else state.get("Next")
        if kind == "Pass":
            self._assign(state.get("Assign"), scope, states)
            out = self.evaluate(state["Output"], scope, states) if "Output" in state else data
            return nxt, out
        if kind == "Wait":
            self._assign(state.get("Assign"), scope, states)
            return nxt, data
        if kind == "Succeed":
            return None, self.evaluate(
                state["Output"], scope, states
            ) if "Output" in state else data
        if kind == "Fail":
            error = str(self.evaluate(state.get("Error", ""), scope, states))
            cause = str(self.evaluate(state.get("Cause", ""), scope, states))
            if error.startswith("States."):
                # "States can report errors with other names. However, these error names can't
                # begin with the States. prefix." (Handling errors in workflows)
                raise _Failed("States.Runtime", f"{name} reported the reserved error {error}")
            raise _Failed(error, cause)
        if kind == "Choice":
            for rule in state.get("Choices", []):
                if self.evaluate(rule["Condition"], scope, states) is True:
                    self._assign(rule.get("Assign"), scope, states)
                    return rule["Next"], data
            if "Default" not in state:
                raise _Failed("States.NoChoiceMatched", name)
            self._assign(state.get("Assign"), scope, states)
            return state["Default"], data
        try:
            if kind == "Task":
                result = self._task(name, state, scope, states, run)
            elif kind == "Map":
                result = self._map(name, state, data, scope, states, run, prefix)
            elif kind == "Parallel":
                result = [
                    self._machine(branch, data, _Scope(scope), run, f"{prefix}{name}/")
                    for branch in state["Branches"]
                ]
            else:
                raise AssertionError(f"state type {kind} is not simulated")
        except _Failed as failure:
            for catcher in state.get("Catch", []):
                if _matches(catcher["ErrorEquals"], failure.error):
                    error_output = {"Error": failure.error, "Cause": failure.cause}
                    caught = self._states(name, data, errorOutput=error_output, **extra)
                    self._assign(catcher.get("Assign"), scope, caught)
                    out = (
                        self.evaluate(catcher["Output"], scope, caught)
                        if "Output" in catcher
                        else error_output
                    )
                    return catcher["Next"], out
            raise
        done = self._states(name, data, result=result, **extra)
        self._assign(state.get("Assign"), scope, done)
        out = self.evaluate(state["Output"], scope, done) if "Output" in state else result
        return nxt, out

    def _task(
        self,
        name: str,
        state: dict[str, Any],
        scope: _Scope,
        states: dict[str, Any],
        run: Run,
    ) -> Any:
        arguments = self.evaluate(state.get("Arguments", {}), scope, states)
        attempts = [0] * len(state.get("Retry", []))
        while True:
            run.calls.append((state["Resource"], arguments))
            try:
                return self.handler(state["Resource"], arguments)
            except TaskFailure as failure:
                for i, retrier in enumerate(state.get("Retry", [])):
                    if _matches(retrier["ErrorEquals"], failure.error):
                        if attempts[i] < retrier.get("MaxAttempts", 3):
                            attempts[i] += 1
                            break
                        raise _Failed(failure.error, failure.cause) from None
                else:
                    raise _Failed(failure.error, failure.cause) from None

    def _map(
        self,
        name: str,
        state: dict[str, Any],
        data: Any,
        scope: _Scope,
        states: dict[str, Any],
        run: Run,
        prefix: str,
    ) -> list[Any]:
        items = self.evaluate(state["Items"], scope, states) if "Items" in state else data
        assert isinstance(items, list), f"{name}: Items must be an array, got {items!r}"
        processor = state.get("ItemProcessor") or state["Iterator"]
        results = []
        for index, value in enumerate(items):
            item = {"Index": index, "Value": value}
            item_states = {**states, "context": {**states["context"], "Map": {"Item": item}}}
            selected = (
                self.evaluate(state["ItemSelector"], scope, item_states)
                if "ItemSelector" in state
                else value
            )
            results.append(
                self._machine(
                    processor, selected, _Scope(scope), run, f"{prefix}{name}/", {"Item": item}
                )
            )
        return results
