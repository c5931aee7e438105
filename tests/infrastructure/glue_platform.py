"""The Glue platform as the tests stand it in: `spark-submit` with its own master, Delta's
jars and settings, the stand-in `awsglue` of tests/infrastructure/glue_stub, and
infrastructure/glue/run_job.py run as Glue runs it (one run per layer, in sequence, as the
pipeline's state machine starts them).

The layer runs over the sample data in data/ happen once per test session, in a background
thread that starts at the first test on the session's Spark (`glue_runs_meanwhile` in
tests/conftest.py), and their lakehouse is the delta-spark sample lakehouse: what production
writes from that data. When a selected test needs it, the same thread then runs the weekly
maintenance run as Glue runs it (`--etl_jobs maintenance`) over a copy of that lakehouse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from etl.registry import LAYERS
from tests.infrastructure.support import REPO, RUN_JOB, SAMPLE_DATA, VENV_BIN

GLUE_STUB = Path(__file__).parent / "glue_stub"
RECORD_ENV = "AWSGLUE_STUB_RECORD"  # where the stand-in's Job records its calls (glue_stub)
SPARK_SUBMIT = VENV_BIN / "spark-submit"
DELTA_PACKAGE = f"io.delta:delta-spark_2.12:{version('delta-spark')}"  # Glue 5.0's Delta 3.3.0

# The platform: what spark-submit (Glue, here) decides. Nothing in the run may change it.
MASTER = "local[1]"
PLATFORM_CONF = {
    "spark.app.name": "glue-stand-in-app",
    "spark.platform.marker": "glue-stand-in",
    "spark.sql.shuffle.partitions": "3",
    # the Glue job's `--conf` settings in infrastructure/templates/lakehouse.yaml (test_template)
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "64",
    # sized for this stand-in's one core, as Glue's defaults are for its workers
    "spark.databricks.delta.snapshotPartitions": "1",
}
# The weekly maintenance run's platform adds one setting: it interprets query plans, as the test
# session does (tests/conftest.py). Its work is Delta's own OPTIMIZE and VACUUM of small tables,
# whose results do not depend on code generation, and it is the last of the runs the tests wait
# for: generating and compiling Java for each new plan took about half its JVM's samples (145 s
# of CPU with it, 108 s without, alone on this machine). The layer runs, which run the jobs'
# transforms, keep Spark's default (code generation on), as on Glue.
MAINTENANCE_CONF = {"spark.sql.codegen.wholeStage": "false"}
# The stand-in's driver JVM (spark-submit's own, through SPARK_SUBMIT_OPTS, so no setting of the
# session changes): each run is a new JVM of half a minute, and the JIT's top tier would spend
# more CPU than it saves (the three layer runs took 157 s of CPU with it, 99 s without).
DRIVER_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"
# The runs proceed beside the tests, at the lowest scheduling priority: on a machine whose cores the
# tests keep busy they take what the tests leave idle, and the tests that wait for them (last in
# their worker) get the cores when they do.
LOWEST_PRIORITY = ["nice", "-n", "19"]
# What Glue puts in sys.argv besides the job's own arguments.
GLUE_NOISE = ["--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_1", "--job-bookmark-option",
              "job-bookmark-disable", "--TempDir", "s3://artifacts/glue-tmp/"]  # fmt: skip
BATCH_ID = "2025-04"


def glue_argv(etl_jobs: str, lakehouse: Path | str = "lake", **more: str) -> list[str]:
    argv = ["run_job.py", "--JOB_NAME", "lakehouse-test-etl", *GLUE_NOISE,
            "--etl_jobs", etl_jobs, "--batch_id", BATCH_ID,
            "--source_dir", str(SAMPLE_DATA), "--lakehouse_dir", str(lakehouse)]  # fmt: skip
    for name, value in more.items():
        argv += [f"--{name}", value]
    return argv


def stub_env(record: Path) -> dict[str, str]:
    """The environment of a run on the platform: the stand-in awsglue and the repository on
    PYTHONPATH (Glue: --extra-py-files), no ETL_* settings, Spark's Python is this one."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ETL_", "PYSPARK_", "AWSGLUE_")) and k != "PYTHONPATH"
    }
    env.update(
        PYTHONPATH=os.pathsep.join((str(GLUE_STUB), str(REPO))),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        GX_ANALYTICS_ENABLED="false",
        SPARK_SUBMIT_OPTS=DRIVER_JVM_OPTIONS,
    )
    env[RECORD_ENV] = str(record)
    return env


def read_record(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class Submitted:
    layer: str
    done: subprocess.CompletedProcess[str]
    calls: list[dict[str, Any]]
    seconds: float

    @property
    def output(self) -> str:
        """What the script printed and logged: spark-submit runs Python with its stderr merged
        into its stdout, and Spark logs on its own stderr."""
        return self.done.stdout

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith(prefix)]

    def ending(self) -> str:
        return "\n".join(self.output.splitlines()[-40:])


def spark_submit(
    argv: Sequence[str], record: Path, layer: str, conf: Mapping[str, str] = PLATFORM_CONF
) -> Submitted:
    """run_job.py as the platform runs it: its master, Delta's jars and settings (`conf`) of its
    own."""
    platform = [
        *LOWEST_PRIORITY,
        str(SPARK_SUBMIT),
        "--master", MASTER,
        "--packages", DELTA_PACKAGE,
        *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
    ]  # fmt: skip
    record.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [*platform, str(RUN_JOB), *argv[1:]],
        env=stub_env(record),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return Submitted(layer, done, read_record(record), time.perf_counter() - started)


def run_layers(lakehouse: Path, records: Path) -> dict[str, Submitted]:
    """bronze, silver, gold: one run each, as the pipeline's state machine starts them; only
    bronze gets the batch's files."""
    files = ",".join(str(p) for p in sorted(SAMPLE_DATA.iterdir()) if not p.name.startswith("_"))
    runs: dict[str, Submitted] = {}
    for layer in LAYERS:
        more = {"files": files} if layer == "bronze" else {}
        argv = glue_argv(layer, lakehouse, **more)
        runs[layer] = spark_submit(argv, records / f"{layer}.jsonl", layer)
        print(f"spark-submit --etl_jobs {layer}: {runs[layer].seconds:.1f} s")
        if runs[layer].done.returncode != 0:
            break  # the state machine stops too; the tests say which run failed and why
    return runs


class GlueBatch:
    """The sample data's three layer runs under spark-submit, started at most once, in the
    background, into `root`/lakehouse; then, if asked, the maintenance run over a copy of it,
    `root`/maintained."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lakehouse = root / "lakehouse"
        self.maintained = root / "maintained"
        self._pool: ThreadPoolExecutor | None = None
        self._runs: Future[dict[str, Submitted]] | None = None
        self._maintenance: Future[Submitted | None] | None = None

    def start(self, maintenance: bool = False) -> None:
        """The layer runs, and after them the maintenance run when `maintenance`."""
        if self._runs is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="glue-layer-runs")
            self._runs = self._pool.submit(run_layers, self.lakehouse, self.root)
        if maintenance and self._maintenance is None:
            assert self._pool is not None
            self._maintenance = self._pool.submit(self._maintain)

    def _maintain(self) -> Submitted | None:
        if self.failed() is not None:
            return None  # the layer runs say why
        shutil.copytree(self.lakehouse, self.maintained)
        argv = glue_argv("maintenance", self.maintained)
        conf = {**PLATFORM_CONF, **MAINTENANCE_CONF}
        run = spark_submit(argv, self.root / "maintenance.jsonl", "maintenance", conf)
        print(f"spark-submit --etl_jobs maintenance: {run.seconds:.1f} s")
        return run

    def maintenance(self) -> Submitted | None:
        """The maintenance run over `maintained`; None when a layer run failed."""
        self.start(maintenance=True)
        assert self._maintenance is not None
        return self._maintenance.result()

    def runs(self) -> dict[str, Submitted]:
        self.start()
        assert self._runs is not None
        return self._runs.result()

    def failed(self) -> str | None:
        """What the first failed layer run printed last, if one failed."""
        for layer, run in self.runs().items():
            if run.done.returncode != 0:
                return (
                    f"spark-submit --etl_jobs {layer} exited {run.done.returncode}:\n{run.ending()}"
                )
        return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
