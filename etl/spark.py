"""The one SparkSession factory, with two profiles.

- **Platform**: a session or a Spark driver already exists (Glue, EMR, `spark-submit`, a
  notebook, a test): the jobs use it exactly as it is. No master, no tuning, no jar resolution;
  the platform decides all of that (on Glue: `--datalake-formats delta` and `--conf`).
- **Laptop**: nothing exists yet: a `local[2]` session tuned for a small machine
  (`LOCAL_SPARK_CONF`), and, for the delta-spark backend only, Delta's jars resolved from Maven
  through `configure_spark_with_delta_pip`. The delta-rs backend needs no jars, so none load.

Either way the session must compute in UTC and, for the delta-spark backend, have Delta's SQL
extension; a session that lacks either is refused with a message saying what to set.
"""

from __future__ import annotations

import os
import time

from pyspark import SparkContext
from pyspark.sql import SparkSession

from etl.errors import ConfigurationError
from etl.settings import LOCAL_SPARK_CONF, Backend

DELTA_SPARK_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
UTC_NAMES = ("UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00")


def platform_session_exists() -> bool:
    """True where a platform started Spark for this process: an active session or context,
    or a driver JVM that launched Python (spark-submit, Glue and EMR set PYSPARK_GATEWAY_PORT)."""
    return (
        SparkSession.getActiveSession() is not None
        or SparkContext._active_spark_context is not None
        or "PYSPARK_GATEWAY_PORT" in os.environ
    )


def _pin_python_to_utc() -> None:
    # PySpark turns timestamps into Python datetimes in the process's local zone: pin it to UTC
    # so that collected values match the UTC session time zone.
    os.environ["TZ"] = "UTC"
    time.tzset()


def laptop_session(app_name: str, backend: Backend) -> SparkSession:
    builder = SparkSession.builder.appName(app_name).master(
        os.environ.get("ETL_SPARK_MASTER", "local[2]")
    )
    for key, value in LOCAL_SPARK_CONF.items():
        builder = builder.config(key, value)
    if backend == "delta-spark":
        from delta import configure_spark_with_delta_pip  # pip's delta-spark: laptop only

        for key, value in DELTA_SPARK_CONF.items():
            builder = builder.config(key, value)
        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def check_session(spark: SparkSession, backend: Backend) -> None:
    """Refuse a session the jobs would compute wrongly with."""
    zone = spark.conf.get("spark.sql.session.timeZone", None)
    if zone not in UTC_NAMES:
        raise ConfigurationError(
            f"the Spark session computes in time zone {zone!r}; the lakehouse stores UTC: "
            "start Spark with --conf spark.sql.session.timeZone=UTC"
        )
    if backend == "delta-spark":
        extensions = spark.conf.get("spark.sql.extensions", "") or ""
        if "io.delta.sql.DeltaSparkSessionExtension" not in extensions:
            raise ConfigurationError(
                "the Spark session has no Delta Lake extension, which the delta-spark backend "
                "needs: on Glue set --datalake-formats delta; elsewhere start Spark with "
                "--packages io.delta:delta-spark_2.12:3.3.0 and --conf "
                "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension"
            )


def get_spark(app_name: str = "etl", backend: Backend = "delta-rs") -> SparkSession:
    """The platform's session when there is one, else a laptop session; checked either way."""
    _pin_python_to_utc()
    if platform_session_exists():
        spark = SparkSession.builder.getOrCreate()
    else:
        spark = laptop_session(app_name, backend)
    check_session(spark, backend)
    return spark
