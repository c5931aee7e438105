"""Shared fixtures: one session-scoped Spark for both Delta backends, real Delta tables in temp
dirs, and whole-pipeline lakehouses built once per session and backend."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.cli import new_context
from etl.runner import JobContext
from etl.settings import BACKENDS, Backend, Settings
from tests.infrastructure.glue_platform import GlueBatch, Submitted
from tests.infrastructure.support import SAMPLE_DATA as SAMPLE_DATA  # data/, shared here
from tests.shared_lakehouse import BuiltLakehouse, publish, published_file, wait_for

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
# The real April 2025 files: the sibling ../shared/reference-data/apr_2025 of the repository,
# or the folder that ETL_REFERENCE_DATA names.
REFERENCE_DATA = Path(
    os.environ.get("ETL_REFERENCE_DATA") or REPO.parent / "shared" / "reference-data" / "apr_2025"
).resolve()
REFERENCE_DATA_MISSING = (
    f"reference data not found at {REFERENCE_DATA}"
    + (" (from ETL_REFERENCE_DATA)" if os.environ.get("ETL_REFERENCE_DATA") else "")
    + ": set ETL_REFERENCE_DATA to the folder holding products.csv, orders_apr_2025.xlsx"
    " and order_items_apr_2025.xlsx"
)
needs_reference_data = pytest.mark.skipif(
    not REFERENCE_DATA.is_dir(), reason=REFERENCE_DATA_MISSING
)


# The tests' data is a few rows: Spark's code generation (a Java compile for each new query
# plan) costs far more than it saves, so the test session interprets plans; and adaptive
# execution, which plans each query again after every shuffle, has nothing to adapt to
# (`test_backends.py` alone 164.6 s -> 149.0 s without it). Results depend on neither; the
# Glue entry point's spark-submit runs and the benchmark keep Spark's defaults (adaptive on;
# code generation too, but in the weekly maintenance run: glue_platform.MAINTENANCE_CONF).
TEST_SPARK_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}
# The Python workers' daemon, without CPython 3.11's cost of each task (tests/pyspark_daemon.py):
# the tests' tasks on Python workers took 92 s of CPU in the suite.
PYTHON_DAEMON = "spark.python.daemon.module"


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local session with Delta's jars (resolved from Maven, cached by Ivy) and Delta's SQL
    extension: the delta-spark backend writes through it and the delta-rs backend computes with
    it, so both backends run in every test session."""
    from etl.spark import get_spark

    session = get_spark("etl-tests", "delta-spark")
    for key, value in TEST_SPARK_CONF.items():
        session.conf.set(key, value)
    # Read when the first Python worker starts (none has yet): tests/pyspark_daemon.py.
    session.sparkContext._conf.set(PYTHON_DAEMON, "tests.pyspark_daemon")
    yield session
    session.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    backend: Backend = request.param
    return backend


@pytest.fixture
def lakehouse(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"


ContextMaker = Callable[..., JobContext]


@pytest.fixture
def make_context(spark: SparkSession, lakehouse: Path) -> ContextMaker:
    """A job context over a temp lakehouse; each call is a new run (new batch and run id)."""

    def _make(source_dir: Path, **overrides: object) -> JobContext:
        settings = Settings(
            source_dir=str(source_dir),
            lakehouse_dir=str(overrides.pop("lakehouse_dir", lakehouse)),
            **overrides,  # type: ignore[arg-type]
        )
        return new_context(settings, spark)

    return _make


def lakehouse_context(
    spark: SparkSession, source: Path, lakehouse: Path, backend: Backend, validate: bool = True
) -> JobContext:
    """A context over `lakehouse` fed from `source`: a new run id; nothing runs yet."""
    settings = Settings(
        source_dir=str(source), lakehouse_dir=str(lakehouse), backend=backend, validate=validate
    )
    return new_context(settings, spark)


def build_lakehouse(
    spark: SparkSession, source: Path, lakehouse: Path, backend: Backend
) -> JobContext:
    """`source` through the whole pipeline, validated."""
    from etl.pipeline import run_pipeline

    ctx = lakehouse_context(spark, source, lakehouse, backend)
    run_pipeline(ctx)
    return ctx


@pytest.fixture(scope="session")
def glue_batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlueBatch]:
    """The sample data's three layer runs through the Glue entry point under spark-submit
    (tests/infrastructure/glue_platform.py), started at most once per session."""
    batch = GlueBatch(tmp_path_factory.mktemp("glue"))
    yield batch
    batch.close()


GLUE_LAKEHOUSE = "sample_lakehouses"  # the fixture whose delta-spark lakehouse Glue's runs write
GLUE_MAINTENANCE = "glue_maintenance"  # the fixture of Glue's maintenance run over a copy of it
# The fixture of the tests that only read the sample lakehouse's files (tests/shared_lakehouse.py).
SAMPLE_FILES = "sample_lakehouse_files"
SPARK_GROUP = "spark"  # the one unit of work of every test on the session's Spark (pytest-xdist)
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # set in pytest-xdist's workers
# Whether a selected test needs the Glue entry point's lakehouse (set at collection).
GLUE_SELECTED = pytest.StashKey[bool]()
MAINTENANCE_SELECTED = pytest.StashKey[bool]()  # and whether one needs Glue's maintenance run
# Whether a selected test runs on Spark, and whether one reads the sample's files without it.
SPARK_SELECTED = pytest.StashKey[bool]()
SAMPLE_READ_APART = pytest.StashKey[bool]()
SAMPLE_PUBLISHED = pytest.StashKey[bool]()  # whether this worker published the sample lakehouse
LOWERED = pytest.StashKey[bool]()  # whether this worker lowered its scheduling priority
# The niceness of the pytest-xdist worker that runs the tests apart from Spark (and of the
# processes it starts): the Spark worker's tests are the suite's long pole, this one's end
# minutes earlier, and the Glue stand-in's runs beside them take what is left (`nice 19`).
APART_NICENESS = 10


def _uses(item: pytest.Item, fixture: str) -> bool:
    return fixture in getattr(item, "fixturenames", ())


def _needs_glue(item: pytest.Item) -> bool:
    return _uses(item, GLUE_LAKEHOUSE)


def _uses_spark(item: pytest.Item) -> bool:
    return _uses(item, "spark")


def _reads_sample_apart(item: pytest.Item) -> bool:
    return _uses(item, SAMPLE_FILES) and not _uses_spark(item)


@pytest.hookimpl(trylast=True)  # after `-m` deselected what the run leaves out
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules with a test over the Glue entry point's lakehouse run last, each in its own
    order, and the tests of Glue's maintenance run after them: the layer runs start with the
    first Spark test (`glue_runs_meanwhile`) and proceed in their own JVMs while the other tests
    run, then the maintenance run in another, while the tests over the layer runs' lakehouse
    run. In a pytest-xdist worker, also write which tests run on Spark and which read the
    sample's files apart from it, for the controller's scheduler (`SparkApart`)."""
    later = {item.path for item in items if _needs_glue(item)}
    items.sort(key=lambda item: (item.path in later) + _uses(item, GLUE_MAINTENANCE))
    config.stash[GLUE_SELECTED] = bool(later)
    config.stash[MAINTENANCE_SELECTED] = any(_uses(item, GLUE_MAINTENANCE) for item in items)
    config.stash[SPARK_SELECTED] = any(_uses_spark(item) for item in items)
    config.stash[SAMPLE_READ_APART] = any(_reads_sample_apart(item) for item in items)
    if XDIST_WORKER:
        groups = {
            "spark": [item.nodeid for item in items if _uses_spark(item)],
            "last": [item.nodeid for item in items if _reads_sample_apart(item)],
        }
        file = spark_groups_file(os.getppid())  # the controller started this worker
        staged = file.with_suffix(f".{XDIST_WORKER}")
        staged.write_text(json.dumps(groups), encoding="utf-8")
        staged.replace(file)


def spark_groups_file(controller_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"pytest-spark-tests-{controller_pid}.json"


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`scripts/test.sh` runs two pytest-xdist workers with this scheduler: every test on Spark
    is one unit of work, handed out first, so one worker holds the one Spark session and the
    session's lakehouses, while the other runs the remaining modules (each a unit, so a
    module's fixtures are built once): the emulated AWS, the linters and the scripts' tests are
    single-threaded processes that leave most of a core idle beside Spark's tests. The modules
    that read the sample lakehouse's files apart from Spark are handed out last, when the Spark
    worker has built it (tests/shared_lakehouse.py). (pytest-xdist's own `--dist loadgroup`
    cannot name groups under pytest 9.2, whose node ids are read-only.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SparkApart(LoadScopeScheduling):  # type: ignore[misc]
        _on_spark: frozenset[str] | None = None
        _last: frozenset[str] = frozenset()

        def _split_scope(self, nodeid: str) -> str:
            if self._on_spark is None:
                file = spark_groups_file(os.getpid())
                groups = json.loads(file.read_text(encoding="utf-8"))
                file.unlink()
                self._on_spark = frozenset(groups["spark"])
                self._last = frozenset(n.split("::")[0] for n in groups["last"])
            return SPARK_GROUP if nodeid in self._on_spark else nodeid.split("::")[0]

        def _assign_work_unit(self, node: object) -> None:
            if SPARK_GROUP in self.workqueue:
                self.workqueue.move_to_end(SPARK_GROUP, last=False)
            for scope in self._last & self.workqueue.keys():
                self.workqueue.move_to_end(scope)
            super()._assign_work_unit(node)

    return SparkApart(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not XDIST_WORKER:  # the controller, or a run without workers
        published_file(os.getpid()).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def glue_runs_meanwhile(request: pytest.FixtureRequest) -> None:
    """Start the Glue entry point's layer runs at the first Spark test when a selected test
    needs their lakehouse (one delta-rs test alone does not pay for three JVMs), in the process
    that runs the Spark tests."""
    if request.config.stash.get(GLUE_SELECTED, False) and _uses_spark(request.node):
        # The session first: it resolves Delta's jars into Ivy's cache, which two resolutions
        # at once (this JVM's and spark-submit's, on a fresh machine) could corrupt.
        request.getfixturevalue("spark")
        batch: GlueBatch = request.getfixturevalue("glue_batch")
        batch.start(maintenance=request.config.stash.get(MAINTENANCE_SELECTED, False))


@pytest.fixture(scope="session")
def sample_lakehouse(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> JobContext:
    """The sample files in data/ through the in-process pipeline on delta-rs, validated (what
    a laptop run gives)."""
    return build_lakehouse(spark, SAMPLE_DATA, tmp_path_factory.mktemp("sample") / "lh", "delta-rs")


@pytest.fixture(autouse=True)
def lower_priority_apart(request: pytest.FixtureRequest) -> None:
    """At its first test apart from Spark, the pytest-xdist worker that runs them (Spark's tests
    are one unit of work, `SparkApart`, so this is the other worker) lowers its priority, when
    the other worker runs Spark tests: where both compete for a core, Spark's tests get it."""
    config = request.config
    if not (XDIST_WORKER and config.stash.get(SPARK_SELECTED, False)):
        return
    if _uses_spark(request.node) or config.stash.get(LOWERED, False):
        return
    config.stash[LOWERED] = True
    os.nice(APART_NICENESS)


@pytest.fixture(autouse=True)
def sample_published_meanwhile(request: pytest.FixtureRequest) -> None:
    """In the pytest-xdist worker that runs the Spark tests, build the sample lakehouse at the
    first of them and publish it when a selected test reads its files apart from Spark."""
    config = request.config
    if not (XDIST_WORKER and config.stash.get(SAMPLE_READ_APART, False)):
        return
    if not _uses_spark(request.node) or config.stash.get(SAMPLE_PUBLISHED, False):
        return
    config.stash[SAMPLE_PUBLISHED] = True
    file = published_file(os.getppid())
    try:
        ctx: JobContext = request.getfixturevalue("sample_lakehouse")
    except BaseException as failed:
        publish(file, None, f"{type(failed).__name__}: {failed}")
        raise
    publish(file, BuiltLakehouse(ctx.settings, ctx.run_id))


@pytest.fixture(scope="session")
def sample_lakehouse_files(request: pytest.FixtureRequest) -> BuiltLakehouse:
    """The sample lakehouse for tests that read its files without Spark. In a pytest-xdist
    worker while another runs the Spark tests, the one that worker built and published
    (tests/shared_lakehouse.py); otherwise `sample_lakehouse`, built here."""
    config = request.config
    if XDIST_WORKER and config.stash.get(SPARK_SELECTED, False):
        return wait_for(published_file(os.getppid()))
    ctx: JobContext = request.getfixturevalue("sample_lakehouse")
    return BuiltLakehouse(ctx.settings, ctx.run_id)


@pytest.fixture(scope="session")
def sample_lakehouses(
    spark: SparkSession, sample_lakehouse: JobContext, glue_batch: GlueBatch
) -> dict[Backend, JobContext]:
    """The sample files in data/ through the whole pipeline, validated, on each backend:
    delta-rs in this process, delta-spark as production writes it (the Glue entry point's layer
    runs under spark-submit), read here through delta-spark."""
    failed = glue_batch.failed()
    if failed:
        pytest.fail(f"the Glue entry point's runs over the sample data failed: {failed}")
    return {
        "delta-rs": sample_lakehouse,
        "delta-spark": lakehouse_context(spark, SAMPLE_DATA, glue_batch.lakehouse, "delta-spark"),
    }


@pytest.fixture(scope="session")
def glue_maintenance(
    sample_lakehouses: dict[Backend, JobContext], glue_batch: GlueBatch
) -> Submitted:
    """The weekly maintenance run as Glue runs it (the Glue entry point under spark-submit,
    `--etl_jobs maintenance`) over a copy of the delta-spark sample lakehouse,
    `glue_batch.maintained`; it runs after the layer runs, in their thread."""
    run = glue_batch.maintenance()
    assert run is not None  # sample_lakehouses fails first when a layer run failed
    if run.done.returncode != 0:
        pytest.fail(f"the Glue maintenance run exited {run.done.returncode}:\n{run.ending()}")
    return run


DURATIONS = os.environ.get("TEST_DURATIONS_LOG")
STARTED = time.monotonic()  # the durations log's clock starts when this conftest is imported


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With TEST_DURATIONS_LOG=<file>, append each test phase's seconds and when it ended (the
    seconds since the run began), as it finishes (to see where a long run spends its time while
    it runs); under pytest-xdist the controller writes what every worker reports."""
    if DURATIONS and not XDIST_WORKER and report.duration >= 1:
        worker = getattr(getattr(report, "node", None), "gateway", None)  # which xdist worker
        where = getattr(worker, "id", "-")
        with open(DURATIONS, "a", encoding="utf-8") as out:
            out.write(
                f"{report.duration:8.1f}  {report.when:8}  {report.outcome:7}  {where:4}  "
                f"{time.monotonic() - STARTED:6.0f}  {report.nodeid}\n"
            )
