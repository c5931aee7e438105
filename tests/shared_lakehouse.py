"""The sample lakehouse for the tests that only read its files (queries, the dashboard, Data
Docs), shared between `scripts/test.sh`'s two pytest-xdist workers.

The worker that runs the Spark tests builds the sample lakehouse at its first Spark test and
writes where it is to a file named after the controller's process; the other worker's reading
tests wait for that file. They run last there (tests/conftest.py orders them), when that
worker's own modules are done and the Spark worker still has minutes of work: the reading tests'
processes (DuckDB queries, reports, Chromium) then take that worker's free core instead of the
Spark worker's time. Nothing here starts Spark.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from etl.settings import Settings

# Longest a reading test waits for the Spark worker's build (it starts with the Spark worker's
# first test and takes about a minute; the reading tests are handed out minutes later).
WAIT_SECONDS = 1800.0


@dataclass(frozen=True)
class BuiltLakehouse:
    """A lakehouse the pipeline built, as its readers see it: its settings and the run that
    built it."""

    settings: Settings
    run_id: str

    def path(self, *table: str) -> str:
        """A table's location, as `JobContext.path` gives it."""
        return self.settings.path("/".join(table))


def published_file(controller_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"pytest-sample-lakehouse-{controller_pid}.json"


def publish(file: Path, built: BuiltLakehouse | None, error: str | None = None) -> None:
    """Where the built lakehouse is (or why it could not be built), written at once."""
    content: dict[str, object] = {"error": error}
    if built is not None:
        content |= {"settings": dataclasses.asdict(built.settings), "run_id": built.run_id}
    staged = file.with_suffix(".staged")
    staged.write_text(json.dumps(content), encoding="utf-8")
    staged.replace(file)


def wait_for(file: Path, timeout: float = WAIT_SECONDS) -> BuiltLakehouse:
    """The lakehouse the Spark worker published; fails with its error if its build failed."""
    deadline = time.monotonic() + timeout
    while not file.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the Spark worker did not build the sample lakehouse in {timeout:.0f} s")
        time.sleep(0.5)
    content = json.loads(file.read_text(encoding="utf-8"))
    if content["error"]:
        pytest.fail(f"the Spark worker could not build the sample lakehouse: {content['error']}")
    settings = Settings(**{**content["settings"], "files": tuple(content["settings"]["files"])})
    return BuiltLakehouse(settings, content["run_id"])
