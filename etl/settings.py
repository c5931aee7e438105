"""Every setting of the lakehouse, resolved and validated in one place.

Values come, in order of precedence, from command-line flags, `ETL_*` environment variables
and the defaults below. Glue job arguments arrive as flags through the Glue entry point, so a
job never reads configuration anywhere else. Each command declares the options it uses; a value
that is wrong (an unknown backend, a lakehouse folder that is a file, a negative horizon) is
refused with one line naming the flag or variable it came from, whichever way it came.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from etl.errors import ConfigurationError

Backend = Literal["delta-rs", "delta-spark"]
BACKENDS: tuple[Backend, ...] = ("delta-rs", "delta-spark")

DEFAULT_SOURCE_DIR = "data"
DEFAULT_LAKEHOUSE_DIR = "lakehouse"
DEFAULT_BACKEND: Backend = "delta-rs"
# A timestamp more than this many days after the run date is a warning-severity finding.
DEFAULT_FUTURE_HORIZON_DAYS = 1
# Delta's own default: VACUUM never removes files a reader of the last 7 days may need.
DEFAULT_VACUUM_RETENTION_HOURS = 168
# Z-ordered tables are rewritten into about this many files per partition, so a point query on
# the Z-order column can skip most files through their min/max statistics; file sizes are kept
# between the bounds (tiny tables are not split, large ones never exceed 128 MiB files).
ZORDER_FILES_PER_PARTITION = 16
ZORDER_MIN_FILE_BYTES = 256 * 1024
ZORDER_MAX_FILE_BYTES = 128 * 1024 * 1024

# Spark settings of the laptop profile (etl.spark); on a platform the platform decides.
LOCAL_SPARK_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    # Every query's plan description for Spark's listeners (the UI's SQL tab, off here): the
    # short form instead of the formatted one (about 5 % of a run's JVM samples).
    "spark.sql.ui.explainMode": "simple",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "4g",
    # Delta's VACUUM lists a table's files in a Spark job of this many tasks (defaults 200 and
    # 10,000, for clusters: about a minute of empty tasks per table on a laptop's two cores).
    "spark.databricks.delta.vacuum.fileListing.parallelism": "2",
    # Delta logs each VACUUM as two commits (VACUUM START and END) where the file system shows
    # partial writes, as a local one does: 2.3 s a VACUUM of a small table, 1.3 s without
    # (docs/benchmark.md). A laptop's table history then holds no VACUUM; the delta-spark store
    # counts the files each one deleted by listing the table before and after.
    "spark.databricks.delta.vacuum.logging.enabled": "false",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    # Delta rebuilds a table's state from its log (each read, merge and commit of a new version)
    # in a Spark job of this many partitions (default 50, for clusters).
    "spark.databricks.delta.snapshotPartitions": "2",
    # A laptop run is a JVM of a minute or two whose time goes to planning many small queries
    # over Spark's and Delta's large code base: the JIT's compiler threads took about half the
    # JVM's CPU, most of it the optimizing tier (C2). C2 now compiles only code that stays hot,
    # and inlines less (docs/benchmark.md).
    "spark.driver.extraJavaOptions": " ".join(
        (
            "-XX:Tier4InvocationThreshold=20000",
            "-XX:Tier4MinInvocationThreshold=2400",
            "-XX:Tier4CompileThreshold=60000",
            "-XX:Tier4BackEdgeThreshold=160000",
            "-XX:InlineSmallCode=500",
            "-XX:MaxInlineSize=20",
            "-XX:FreqInlineSize=100",
            "-XX:MaxInlineLevel=6",
        )
    ),
}

_BATCH_ID = re.compile(r"^[A-Za-z0-9_.:+-]{1,128}$")


def new_batch_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Settings:
    """Where the sources and tables are, which Delta backend writes them, and the batch."""

    source_dir: str = DEFAULT_SOURCE_DIR
    lakehouse_dir: str = DEFAULT_LAKEHOUSE_DIR
    backend: Backend = DEFAULT_BACKEND
    batch_id: str = field(default_factory=new_batch_id)
    files: tuple[str, ...] = ()
    validate: bool = True  # run the expectations of each silver and gold job before it writes
    future_horizon_days: int = DEFAULT_FUTURE_HORIZON_DAYS

    def path(self, table: str) -> str:
        """Location of a table named `<layer>/<name>` (part of the public interface)."""
        return f"{self.lakehouse_dir.rstrip('/')}/{table}"

    def table_path(self, layer: str, name: str) -> str:
        return self.path(f"{layer}/{name}")


# ------------------------------------------------------------------------------------ options


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _days(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number of days, 0 or more") from None
    if value < 0:
        raise ValueError("expected a whole number of days, 0 or more")
    return value


def _batch_id(text: str) -> str:
    if not _BATCH_ID.match(text):
        raise ValueError("use 1-128 letters, digits and _ . : + -")
    return text


def _folder(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


@dataclass(frozen=True)
class Option:
    """One setting: its flag, environment variable, default and how a value is checked."""

    name: str  # the Settings field (or command argument) it sets
    flag: str
    env: str
    default: str | None
    help: str
    parse: Callable[[str], object] = str
    choices: tuple[str, ...] = ()
    metavar: str = ""
    shown_default: str = ""  # how the help names a default that is not a plain value

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        default = self.shown_default or self.default
        values = f"; one of {', '.join(self.choices)}" if self.choices else ""
        parser.add_argument(
            self.flag,
            dest=self.name,
            default=None,
            metavar=self.metavar or self.name.upper(),
            help=f"{self.help} [{self.env}; default: {default}{values}]",
        )

    def origin(self, given: str | None, env: Mapping[str, str]) -> str:
        """Where the value comes from: the flag, the variable or the default."""
        if given is not None:
            return self.flag
        if env.get(self.env) is not None:
            return self.env
        return f"the default of {self.flag}"

    def resolve(self, given: str | None, env: Mapping[str, str]) -> object:
        source = self.origin(given, env)
        text = given if given is not None else env.get(self.env, self.default)
        if text is None:
            return None
        if self.choices and text not in self.choices:
            raise ConfigurationError(
                f"{source}={text!r} is not valid; use one of: {', '.join(self.choices)}"
            )
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ConfigurationError(f"{source}={text!r} is not valid: {exc}") from exc


OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option(
            "source_dir",
            "--source-dir",
            "ETL_SOURCE_DIR",
            DEFAULT_SOURCE_DIR,
            "folder (or s3:// prefix) holding the source files",
            _folder,
            metavar="DIR",
        ),
        Option(
            "lakehouse_dir",
            "--lakehouse-dir",
            "ETL_LAKEHOUSE_DIR",
            DEFAULT_LAKEHOUSE_DIR,
            "root of the Delta tables",
            _folder,
            metavar="DIR",
        ),
        Option(
            "backend",
            "--backend",
            "ETL_BACKEND",
            DEFAULT_BACKEND,
            "Delta writer: delta-rs (local, no JVM jars) or delta-spark (what Glue runs)",
            choices=BACKENDS,
            metavar="{" + ",".join(BACKENDS) + "}",
        ),
        Option(
            "batch_id",
            "--batch-id",
            "ETL_BATCH_ID",
            None,
            "identifier recorded on every row this run writes: 1-128 letters, digits and _ . : + -",
            _batch_id,
            metavar="ID",
            shown_default="a new id per run",
        ),
        Option(
            "files",
            "--files",
            "ETL_FILES",
            "",
            "comma-separated source files to ingest instead of every file under --source-dir",
            metavar="FILE[,FILE...]",
            shown_default="every file under --source-dir",
        ),
        Option(
            "validate",
            "--validate",
            "ETL_VALIDATE",
            "true",
            "run the Great Expectations suites before each silver and gold write",
            _boolean,
            ("true", "false", "1", "0", "yes", "no", "on", "off"),
            metavar="{true,false}",
        ),
        Option(
            "future_horizon_days",
            "--future-horizon-days",
            "ETL_FUTURE_HORIZON_DAYS",
            str(DEFAULT_FUTURE_HORIZON_DAYS),
            "a timestamp more than this many days after the run date is reported as a warning "
            "(a whole number, 0 or more)",
            _days,
            metavar="DAYS",
        ),
    )
}
KNOWN_VARIABLES = {o.env for o in OPTIONS.values()} | {
    "ETL_SPARK_MASTER",  # the laptop profile's master (default local[2])
    "ETL_FAULT",  # fault injection (etl.faults), for tests
    "ETL_COMMIT_TRACE",  # commit tracing (etl.faults), for tests
    "ETL_REFERENCE_DATA",  # where the tests find the real April files
    "ETL_DELTA_SPARK_TESTS",
}

# What each kind of command reads from the settings.
SOURCE_OPTIONS = ("source_dir", "files")
RUN_OPTIONS = ("lakehouse_dir", "backend", "batch_id")
CHECK_OPTIONS = ("validate", "future_horizon_days")


def add_options(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    for name in names:
        OPTIONS[name].add_to(parser)
    if "validate" in names:
        parser.add_argument(
            "--no-validate",
            dest="validate",
            action="store_const",
            const="false",
            help="same as --validate false",
        )


def resolve_settings(
    args: argparse.Namespace,
    names: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    writes: bool = True,
) -> Settings:
    """Settings from parsed flags, `ETL_*` variables and defaults, every value checked; `writes`
    says whether the command writes to the lakehouse (then it must be writable)."""
    env = os.environ if env is None else env
    values = {name: OPTIONS[name].resolve(getattr(args, name, None), env) for name in names}
    if values.get("batch_id") is None:
        values.pop("batch_id", None)
    if "files" in values:
        text = str(values["files"] or "")
        values["files"] = tuple(f.strip() for f in text.split(",") if f.strip())
    settings = Settings(**values)  # type: ignore[arg-type]
    origins = {name: OPTIONS[name].origin(getattr(args, name, None), env) for name in names}
    check_locations(settings, origins, writes=writes)
    return settings


def _remote(location: str) -> bool:
    return "://" in location


def _named(origin: str, value: str) -> str:
    """`--lakehouse-dir /x`, `ETL_LAKEHOUSE_DIR=/x` or `the default of --lakehouse-dir (x)`."""
    if origin.startswith("--"):
        return f"{origin} {value}"
    if origin.startswith("ETL_"):
        return f"{origin}={value}"
    return f"{origin} ({value})"


def check_locations(settings: Settings, origins: Mapping[str, str], *, writes: bool = True) -> None:
    """The folders must be usable before any job starts. `origins` maps each option the command
    uses to where its value came from (Option.origin)."""
    lake = settings.lakehouse_dir
    if "lakehouse_dir" in origins and not _remote(lake):
        named = _named(origins["lakehouse_dir"], lake)
        if os.path.exists(lake) and not os.path.isdir(lake):
            what = "a folder (it is created if missing)" if writes else "the lakehouse folder"
            raise ConfigurationError(f"{named} is a file, not a folder; point it at {what}")
        if writes:
            _check_writable(lake, named)
    source = settings.source_dir
    if "source_dir" in origins and not settings.files and not _remote(source):
        named = _named(origins["source_dir"], source)
        if not os.path.exists(source):
            raise ConfigurationError(
                f"{named}: no such folder; point --source-dir (or ETL_SOURCE_DIR) at the folder "
                "holding the source files"
            )
        if not os.path.isdir(source):
            raise ConfigurationError(
                f"{named} is a file, not a folder; point it at the folder holding the source "
                "files, or name single files with --files"
            )


def _check_writable(lake: str, named: str) -> None:
    if os.path.isdir(lake):
        if not os.access(lake, os.W_OK | os.X_OK):
            raise ConfigurationError(
                f"{named}: this user cannot write in it; choose a folder you can write to, or "
                "fix its permissions"
            )
        return
    parent = os.path.dirname(os.path.abspath(lake))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ConfigurationError(
            f"{named} cannot be created: {parent} is a file, not a folder; choose another folder"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"{named} cannot be created: this user cannot write in {parent}; choose a folder "
            "you can write to"
        )


def require_lakehouse(settings: Settings) -> None:
    """For the commands that read an existing lakehouse (query, report, maintenance)."""
    lake = settings.lakehouse_dir
    if not _remote(lake) and not os.path.isdir(lake):
        raise ConfigurationError(
            f"no lakehouse at {lake}: run python -m etl.pipeline first, or point --lakehouse-dir "
            "(or ETL_LAKEHOUSE_DIR) at the folder it wrote"
        )


def check_variables(names: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Check the `ETL_*` variables of the options a command does not use: a wrong value in the
    environment is refused by every command, not only by those that read it."""
    env = os.environ if env is None else env
    for option in OPTIONS.values():
        if option.name not in names and env.get(option.env) is not None:
            option.resolve(None, env)


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """`ETL_*` variables that no option reads (a typo such as ETL_BAKCEND)."""
    env = os.environ if env is None else env
    return sorted(k for k in env if k.startswith("ETL_") and k not in KNOWN_VARIABLES)


def closest_variable(name: str) -> str | None:
    """The known variable an unknown one is most likely a typo of."""
    matches = difflib.get_close_matches(name, sorted(KNOWN_VARIABLES), n=1, cutoff=0.75)
    return matches[0] if matches else None
