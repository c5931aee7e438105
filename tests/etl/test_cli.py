"""Every entry point driven as a user drives it: each mistake is one line on stderr naming what is
wrong and what to do, exit code 2, and nothing written; each command's --help lists exactly the
flags it uses, with defaults and valid values.

The commands run in-process through their `main(argv)` (Spark may not start: every mistake is
caught before it would), except where only a real process shows the outcome (its exit code,
everything it prints to stderr, the traceback of an internal error).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import etl.cli
from etl import maintenance, pipeline, query, report
from etl.errors import EtlError, ExitCode
from etl.registry import JOB_NAMES, JOBS
from tests.helpers import write_sources

REPO = Path(__file__).resolve().parents[2]
Main = Callable[[list[str]], int]


@pytest.fixture(autouse=True)
def no_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here needs Spark: a run that would start it fails the test."""

    def _refused(*_args: object) -> None:
        pytest.fail("Spark was started: the mistake was not caught before the run began")

    monkeypatch.setattr(etl.cli, "get_spark", _refused)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No `ETL_*` variable of the caller's shell; a fixed terminal width for --help."""
    for name in list(os.environ):
        if name.startswith("ETL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good source files (real workbooks and a CSV): the mistakes are elsewhere."""
    return write_sources(tmp_path_factory.mktemp("cli") / "source")


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under `root`."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


def errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]


def refused(main: Main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run a command that must refuse: exit 2 and exactly one error line, which is returned."""
    code = main(argv)
    lines = errors(capsys)
    assert code == ExitCode.BAD_INPUT, lines
    assert len(lines) == 1, lines
    return lines[0]


def uv_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ETL_")}
    return subprocess.run(
        ["uv", "run", "--frozen", "python", *args],
        cwd=REPO,
        env={**clean, "GX_ANALYTICS_ENABLED": "false", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


# ----------------------------------------------------------------------------- settings

BATCH_RULE = "use 1-128 letters, digits and _ . : + -"
SETTING_MISTAKES: dict[str, tuple[dict[str, str], list[str], str]] = {
    # case: (environment, extra flags, the one error line)
    "ETL_BACKEND=foo": (
        {"ETL_BACKEND": "foo"},
        [],
        "error: ETL_BACKEND='foo' is not valid; use one of: delta-rs, delta-spark",
    ),
    "--backend foo": (
        {},
        ["--backend", "foo"],
        "error: --backend='foo' is not valid; use one of: delta-rs, delta-spark",
    ),
    "ETL_VALIDATE=maybe": (
        {"ETL_VALIDATE": "maybe"},
        [],
        "error: ETL_VALIDATE='maybe' is not valid; use one of: true, false, 1, 0, yes, no, on, off",
    ),
    "ETL_FUTURE_HORIZON_DAYS=-1": (
        {"ETL_FUTURE_HORIZON_DAYS": "-1"},
        [],
        "error: ETL_FUTURE_HORIZON_DAYS='-1' is not valid: expected a whole number of days, "
        "0 or more",
    ),
    "ETL_FUTURE_HORIZON_DAYS=abc": (
        {"ETL_FUTURE_HORIZON_DAYS": "abc"},
        [],
        "error: ETL_FUTURE_HORIZON_DAYS='abc' is not valid: expected a whole number of days, "
        "0 or more",
    ),
    "--future-horizon-days 1.5": (
        {},
        ["--future-horizon-days", "1.5"],
        "error: --future-horizon-days='1.5' is not valid: expected a whole number of days, "
        "0 or more",
    ),
    "--batch-id with a space": (
        {},
        ["--batch-id", "april run"],
        f"error: --batch-id='april run' is not valid: {BATCH_RULE}",
    ),
    "--batch-id with a slash": (
        {},
        ["--batch-id", "2025/04"],
        f"error: --batch-id='2025/04' is not valid: {BATCH_RULE}",
    ),
    "ETL_BATCH_ID with a slash": (
        {"ETL_BATCH_ID": "2025/04"},
        [],
        f"error: ETL_BATCH_ID='2025/04' is not valid: {BATCH_RULE}",
    ),
    "--layers silver,platinum": (
        {},
        ["--layers", "silver,platinum"],
        "error: --layers: unknown job or layer: platinum; valid: all, bronze, silver, gold, "
        + ", ".join(JOB_NAMES),
    ),
    "--jobs gold.nope": (
        {},
        ["--jobs", "gold.nope"],
        "error: --jobs: unknown job or layer: gold.nope; valid: all, bronze, silver, gold, "
        + ", ".join(JOB_NAMES),
    ),
    "--jobs with nothing": (
        {},
        ["--jobs", ""],
        "error: --jobs: unknown job or layer: (none given); valid: all, bronze, silver, gold, "
        + ", ".join(JOB_NAMES),
    ),
}


@pytest.mark.parametrize("case", SETTING_MISTAKES)
def test_a_wrong_setting_is_one_line_exit_2_and_writes_nothing(
    case: str,
    sources: Path,
    lake: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environment, flags, expected = SETTING_MISTAKES[case]
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    argv = ["--source-dir", str(sources), "--lakehouse-dir", str(lake), *flags]
    assert refused(pipeline.main, argv, capsys) == expected
    assert not lake.exists()


@pytest.mark.parametrize("module", [spec.module for spec in JOBS])
def test_every_job_module_checks_its_settings(
    module: str, lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job module (what Glue runs) validates the same way; a variable is checked even by a
    command that does not read it (etl.query and the backend)."""
    monkeypatch.setenv("ETL_BACKEND", "foo")
    job: ModuleType = importlib.import_module(module)
    expected = "error: ETL_BACKEND='foo' is not valid; use one of: delta-rs, delta-spark"
    assert refused(job.main, ["--lakehouse-dir", str(lake)], capsys) == expected
    lake.mkdir()
    assert refused(query.main, ["--lakehouse-dir", str(lake), "SELECT 1"], capsys) == expected
    assert list(lake.iterdir()) == []


def test_layers_and_jobs_together_are_refused(
    sources: Path, lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--lakehouse-dir", str(lake), "--layers", "gold", "--jobs", "gold.daily_sales"]
    with pytest.raises(SystemExit) as exit_:
        pipeline.main(argv)
    assert exit_.value.code == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.splitlines() == [
        "error: argument --jobs: not allowed with argument --layers; "
        "see python -m etl.pipeline --help for the flags"
    ]
    assert not lake.exists()


def test_a_flag_a_command_does_not_have_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        query.main(["--source-dir=data", "SELECT 1"])
    assert exit_.value.code == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.splitlines() == [
        "error: unrecognized arguments: --source-dir=data; see python -m etl.query --help for "
        "the flags"
    ]


# ---------------------------------------------------------------------------- locations


def test_a_lakehouse_that_is_a_file(
    sources: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = tmp_path / "lakehouse.txt"
    file.write_text("not a folder\n")
    argv = ["--source-dir", str(sources), "--lakehouse-dir", str(file)]
    assert refused(pipeline.main, argv, capsys) == (
        f"error: --lakehouse-dir {file} is a file, not a folder; point it at a folder "
        "(it is created if missing)"
    )
    assert refused(query.main, ["--lakehouse-dir", str(file), "SELECT 1"], capsys) == (
        f"error: --lakehouse-dir {file} is a file, not a folder; point it at the lakehouse folder"
    )
    monkeypatch.setenv("ETL_LAKEHOUSE_DIR", str(file))
    assert refused(pipeline.main, ["--source-dir", str(sources)], capsys) == (
        f"error: ETL_LAKEHOUSE_DIR={file} is a file, not a folder; point it at a folder "
        "(it is created if missing)"
    )
    assert file.read_text() == "not a folder\n"


def test_a_lakehouse_under_a_file(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("x")
    argv = ["--source-dir", str(sources), "--lakehouse-dir", str(file / "lakehouse")]
    assert refused(pipeline.main, argv, capsys) == (
        f"error: --lakehouse-dir {file}/lakehouse cannot be created: {file} is a file, not a "
        "folder; choose another folder"
    )


def test_a_lakehouse_under_a_folder_without_write_permission(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip(
                "this user may write to a read-only folder (root, or CAP_DAC_OVERRIDE), so a "
                "missing permission cannot be produced"
            )
        lake = folder / "lakehouse"
        argv = ["--source-dir", str(sources), "--lakehouse-dir", str(lake)]
        assert refused(pipeline.main, argv, capsys) == (
            f"error: --lakehouse-dir {lake} cannot be created: this user cannot write in "
            f"{folder}; choose a folder you can write to"
        )
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_source_folder_that_is_missing_or_a_file(
    lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, file = tmp_path / "no-such-folder", tmp_path / "orders.csv"
    file.write_text("order_num\n")
    argv = ["--source-dir", str(missing), "--lakehouse-dir", str(lake)]
    assert refused(pipeline.main, argv, capsys) == (
        f"error: --source-dir {missing}: no such folder; point --source-dir (or ETL_SOURCE_DIR) "
        "at the folder holding the source files"
    )
    bronze: ModuleType = importlib.import_module("etl.bronze.orders_etl")
    argv = ["--source-dir", str(file), "--lakehouse-dir", str(lake)]
    assert refused(bronze.main, argv, capsys) == (
        f"error: --source-dir {file} is a file, not a folder; point it at the folder holding "
        "the source files, or name single files with --files"
    )
    assert not lake.exists()


@pytest.mark.parametrize("lakehouse_exists", [False, True], ids=["new", "empty folder"])
def test_an_empty_source_folder_on_an_empty_lakehouse(
    lakehouse_exists: bool, lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before bronze runs: no table, no audit row, not even the lakehouse folder."""
    empty = tmp_path / "drop"
    empty.mkdir()
    if lakehouse_exists:
        lake.mkdir()
    argv = ["--source-dir", str(empty), "--lakehouse-dir", str(lake)]
    assert refused(pipeline.main, argv, capsys) == (
        f"error: no source files found in {empty}: expected .csv, .xlsx, .xlsm, .xls files whose "
        "name starts with (or whose folder is named) products, orders, order_items; check "
        "--source-dir"
    )
    assert lake.exists() == lakehouse_exists
    assert not lakehouse_exists or list(lake.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        (query.main, ["SELECT count(*) FROM gold.daily_sales"]),
        (report.main, []),
        (maintenance.main, []),
    ],
    ids=["query", "report", "maintenance"],
)
def test_a_lakehouse_that_does_not_exist(
    command: Main, argv: list[str], lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert refused(command, ["--lakehouse-dir", str(lake), *argv], capsys) == (
        f"error: no lakehouse at {lake}: run python -m etl.pipeline first, or point "
        "--lakehouse-dir (or ETL_LAKEHOUSE_DIR) at the folder it wrote"
    )
    assert not lake.exists()


def test_a_query_over_no_table_needs_no_lakehouse(
    lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad SQL is reported as such, and a query that reads no table runs, lakehouse or not."""
    argv = ["--lakehouse-dir", str(lake), "--format", "csv"]
    assert refused(query.main, [*argv, "SELEC 1"], capsys).startswith("error: invalid SQL")
    assert refused(query.main, [*argv, "SELECT * FROM gold.nope"], capsys).startswith(
        "error: unknown table gold.nope; known tables: gold.daily_sales, "
    )
    assert query.main([*argv, "SELECT 1 AS one"]) == 0
    assert capsys.readouterr().out.splitlines() == ["one", "1"]
    assert not lake.exists()


def test_an_unknown_variable_is_named_and_the_run_goes_on(
    lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lake.mkdir()
    monkeypatch.setenv("ETL_BAKCEND", "delta-spark")
    monkeypatch.setenv("ETL_COLOUR", "blue")
    assert query.main(["--lakehouse-dir", str(lake), "--format", "csv", "SELECT 1 AS one"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["one", "1"]
    warning = "WARNING etl.cli: ignoring {}: no setting reads it ({})"
    assert warning.format("ETL_BAKCEND", "did you mean ETL_BACKEND?") in err
    assert warning.format("ETL_COLOUR", "a typo?") in err
    assert "error" not in err
    assert maintenance.main(["--lakehouse-dir", str(lake)]) == 0
    assert "ignoring ETL_BAKCEND" in capsys.readouterr().err
    assert list(lake.iterdir()) == []


# --------------------------------------------------------------------------------- lock


@pytest.fixture
def process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host (a stand-in for a run that still works)."""
    live = subprocess.Popen(["sleep", "300"])
    yield live
    live.kill()
    live.wait()


def hold_lock(lake: Path, pid: int, run_id: str) -> dict[str, object]:
    holder: dict[str, object] = {
        "run_id": run_id,
        "pid": pid,
        "host": socket.gethostname(),
        "since": "2025-04-30T06:00:00+00:00",
        "command": "python -m etl.pipeline",
    }
    lake.mkdir(parents=True, exist_ok=True)
    (lake / "_lock.json").write_text(json.dumps(holder))
    return holder


def test_a_lakehouse_locked_by_a_live_run(
    sources: Path,
    lake: Path,
    process: subprocess.Popen[bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    hold_lock(lake, process.pid, "run-live")
    before = snapshot(lake)
    expected = (
        f"error: the lakehouse {lake} is in use by run run-live (python -m etl.pipeline, "
        f"process {process.pid} on {socket.gethostname()} since 2025-04-30T06:00:00+00:00); "
        f"wait for it to finish, or, if that process no longer runs, delete {lake}/_lock.json"
    )
    argv = ["--source-dir", str(sources), "--lakehouse-dir", str(lake)]
    assert refused(pipeline.main, argv, capsys) == expected
    assert refused(maintenance.main, ["--lakehouse-dir", str(lake)], capsys) == expected
    assert snapshot(lake) == before


def test_a_lock_left_by_a_dead_run_is_taken_over(
    lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    hold_lock(lake, gone.pid, "run-killed")
    assert maintenance.main(["--lakehouse-dir", str(lake)]) == 0
    assert (
        f"WARNING etl.lock: removing the stale lock of run run-killed (process {gone.pid} on "
        f"{socket.gethostname()} no longer runs)"
    ) in capsys.readouterr().err
    assert list(lake.iterdir()) == []  # taken over, then released


# ---------------------------------------------------------------------- real processes


def test_a_wrong_variable_in_a_real_process_prints_one_line_only(sources: Path, lake: Path) -> None:
    done = uv_run(
        "-m", "etl.pipeline", "--source-dir", str(sources), "--lakehouse-dir", str(lake),
        env={"ETL_BACKEND": "foo"},
    )  # fmt: skip
    assert done.returncode == ExitCode.BAD_INPUT
    assert done.stderr.splitlines() == [
        "error: ETL_BACKEND='foo' is not valid; use one of: delta-rs, delta-spark"
    ]
    assert done.stdout == ""
    assert not lake.exists()


def test_an_internal_error_prints_the_traceback_and_exits_70(sources: Path, lake: Path) -> None:
    """A bug (here: job selection replaced by one that divides by zero) is not a user mistake:
    the traceback is printed and the exit code is 70, never 1 (unbalanced) or 2."""
    bug = (
        "import sys, etl.pipeline as p; p.select_jobs = lambda selector: 1 // 0; "
        "sys.exit(p.main(sys.argv[1:]))"
    )
    done = uv_run("-c", bug, "--source-dir", str(sources), "--lakehouse-dir", str(lake))
    assert done.returncode == ExitCode.INTERNAL_ERROR == 70
    lines = done.stderr.splitlines()
    assert "Traceback (most recent call last):" in lines
    assert "ZeroDivisionError: integer division or modulo by zero" in lines
    assert lines[-1] == (
        "internal error (exit 70): this is a bug, not a problem with your input; the traceback "
        "above says where"
    )
    assert not lake.exists()


def all_subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *all_subclasses(direct)}}


def test_no_user_error_exits_1_or_70() -> None:
    """Exit 1 means unbalanced accounting and 70 a bug: no error a user can fix uses them."""
    import pkgutil

    import etl

    for module in pkgutil.walk_packages(etl.__path__, "etl."):
        importlib.import_module(module.name)
    # the etl package's own errors (other modules, like the Glue entry point, may add theirs)
    errors = {EtlError, *all_subclasses(EtlError)}
    codes = {cls.__name__: cls.exit_code for cls in errors if cls.__module__.startswith("etl.")}
    assert len(codes) > 5
    assert set(codes.values()) <= {ExitCode.BAD_INPUT, ExitCode.DATA_QUALITY}, codes
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 70]


# --------------------------------------------------------------------------------- help


def help_of(main: Main, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Each option of a command's --help → its text (the lines of its entry, joined)."""
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    entries: dict[str, str] = {}
    section = text.split("\noptions:\n", 1)[1]
    current = ""
    for line in section.splitlines():
        start = re.match(r"^ {2}(-{1,2}[a-z][\w-]*)", line)
        if start:
            current = start.group(1)
            entries[current] = line.strip()
        elif current:
            entries[current] += " " + line.strip()
    return entries


SETTINGS_OF_BRONZE = {"--source-dir", "--files", "--lakehouse-dir", "--backend", "--batch-id"}
SETTINGS_OF_SILVER = {
    "--lakehouse-dir",
    "--backend",
    "--batch-id",
    "--validate",
    "--no-validate",
    "--future-horizon-days",
}
SETTINGS_OF_GOLD = {"--lakehouse-dir", "--backend", "--batch-id", "--validate", "--no-validate"}
FLAGS: dict[str, set[str]] = {
    "etl.pipeline": {"-h", *SETTINGS_OF_BRONZE, *SETTINGS_OF_SILVER, "--layers", "--jobs"},
    "etl.maintenance": {"-h", "--lakehouse-dir", "--backend", "--retention-hours", "--no-vacuum"},
    "etl.query": {"-h", "--lakehouse-dir", "--file", "--list", "--format"},
    "etl.report": {"-h", "--lakehouse-dir", "--output", "--currency"},
    **{spec.module: {"-h", *SETTINGS_OF_BRONZE} for spec in JOBS if spec.layer == "bronze"},
    **{spec.module: {"-h", *SETTINGS_OF_SILVER} for spec in JOBS if spec.layer == "silver"},
    **{spec.module: {"-h", *SETTINGS_OF_GOLD} for spec in JOBS if spec.layer == "gold"},
}
# Flags that take no value or choose what to run: no default to show.
WITHOUT_DEFAULT = {"-h", "--no-validate", "--no-vacuum", "--list", "--file"}


@pytest.mark.parametrize("module", FLAGS)
def test_help_lists_exactly_the_flags_of_the_command_with_defaults(
    module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = help_of(importlib.import_module(module).main, capsys)
    assert set(entries) == FLAGS[module]
    for flag, text in entries.items():
        assert flag in WITHOUT_DEFAULT or "default" in text, text
    if "--backend" in entries:
        shown = "[ETL_BACKEND; default: delta-rs; one of delta-rs, delta-spark]"
        assert shown in entries["--backend"]
        assert entries["--backend"].startswith("--backend {delta-rs,delta-spark} ")
    if "--validate" in entries:
        assert "[ETL_VALIDATE; default: true; one of true, false" in entries["--validate"]
    if "--future-horizon-days" in entries:
        text = entries["--future-horizon-days"]
        assert "0 or more" in text and "default: 1]" in text


def test_help_of_the_pipeline_lists_the_valid_layers_and_jobs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    entries = help_of(pipeline.main, capsys)
    assert "of bronze, silver, gold [default: bronze,silver,gold]" in entries["--layers"]
    assert f"of {', '.join(JOB_NAMES)} [default: every job of --layers]" in entries["--jobs"]
    assert len(JOB_NAMES) == 10
