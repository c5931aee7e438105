"""Every setting of the lakehouse, resolved and validated in one place.

Values come, in order of precedence, from command-line flags, `ETL_*` environment variables
and the defaults below. Glue job arguments arrive as flags through the Glue entry point, so a
job never reads configuration anywhere else. Each command declares the options it uses; a value
that is wrong (an unknown backend, a lakehouse folder that is a file, a negative horizon) is
refused with one line naming the flag or variable it came from, whichever way it came.
"""

from __future__ import annotations

import argparse
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
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "4g",
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
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
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

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        shown = f"default: {self.default}" if self.default not in (None, "") else "optional"
        values = f"; one of {', '.join(self.choices)}" if self.choices else ""
        parser.add_argument(
            self.flag,
            dest=self.name,
            default=None,
            metavar=self.name.upper(),
            help=f"{self.help} [{self.env}; {shown}{values}]",
        )

    def resolve(self, given: str | None, env: Mapping[str, str]) -> object:
        source, text = (self.flag, given) if given is not None else (self.env, env.get(self.env))
        if text is None:
            text = self.default
            source = f"the default of {self.flag}"
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
        ),
        Option(
            "lakehouse_dir",
            "--lakehouse-dir",
            "ETL_LAKEHOUSE_DIR",
            DEFAULT_LAKEHOUSE_DIR,
            "root of the Delta tables",
            _folder,
        ),
        Option(
            "backend",
            "--backend",
            "ETL_BACKEND",
            DEFAULT_BACKEND,
            "Delta writer: delta-rs (local, no JVM jars) or delta-spark (what Glue runs)",
            choices=BACKENDS,
        ),
        Option(
            "batch_id",
            "--batch-id",
            "ETL_BATCH_ID",
            None,
            "identifier recorded on every row this run writes (default: a new id)",
            _batch_id,
        ),
        Option(
            "files",
            "--files",
            "ETL_FILES",
            "",
            "comma-separated source files to ingest instead of every file under --source-dir",
        ),
        Option(
            "validate",
            "--validate",
            "ETL_VALIDATE",
            "true",
            "run the Great Expectations suites before each silver and gold write",
            _boolean,
            ("true", "false", "1", "0", "yes", "no", "on", "off"),
        ),
        Option(
            "future_horizon_days",
            "--future-horizon-days",
            "ETL_FUTURE_HORIZON_DAYS",
            str(DEFAULT_FUTURE_HORIZON_DAYS),
            "a timestamp more than this many days after the run date is reported as a warning",
            _days,
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
    args: argparse.Namespace, names: Sequence[str], env: Mapping[str, str] | None = None
) -> Settings:
    """Settings from parsed flags, `ETL_*` variables and defaults, every value checked."""
    env = os.environ if env is None else env
    values = {name: OPTIONS[name].resolve(getattr(args, name, None), env) for name in names}
    if values.get("batch_id") is None:
        values.pop("batch_id", None)
    if "files" in values:
        text = str(values["files"] or "")
        values["files"] = tuple(f.strip() for f in text.split(",") if f.strip())
    settings = Settings(**values)  # type: ignore[arg-type]
    check_locations(settings, names)
    return settings


def check_locations(settings: Settings, names: Sequence[str]) -> None:
    """The folders must be usable before any job starts."""
    lake = settings.lakehouse_dir
    if "lakehouse_dir" in names and not lake.startswith("s3://"):
        if os.path.exists(lake) and not os.path.isdir(lake):
            raise ConfigurationError(
                f"--lakehouse-dir {lake} is a file, not a folder; point it at a folder "
                "(it is created if missing)"
            )
        parent = os.path.dirname(os.path.abspath(lake))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            raise ConfigurationError(f"--lakehouse-dir {lake} cannot be created under {parent}")
    source = settings.source_dir
    if "source_dir" in names and not settings.files and not source.startswith("s3://"):
        if not os.path.exists(source):
            raise ConfigurationError(
                f"source folder {source} does not exist; set --source-dir (or ETL_SOURCE_DIR)"
            )
        if not os.path.isdir(source):
            raise ConfigurationError(f"--source-dir {source} is a file, not a folder")


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """`ETL_*` variables that no option reads (a typo such as ETL_BAKCEND)."""
    env = os.environ if env is None else env
    return sorted(k for k in env if k.startswith("ETL_") and k not in KNOWN_VARIABLES)
