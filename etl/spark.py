"""The one SparkSession factory."""

from __future__ import annotations

import os
import time

from pyspark.sql import SparkSession

from etl.settings import LOCAL_SPARK_CONF, Backend

DELTA_SPARK_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def get_spark(app_name: str = "etl", backend: Backend = "delta-rs") -> SparkSession:
    """Return the active session (Glue's, a test's) or build a local one.

    With the delta-spark backend outside Glue, Delta's jars are resolved from Maven through
    `configure_spark_with_delta_pip`; the delta-rs backend needs no jars at all.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # PySpark turns timestamps into Python datetimes in the process's local zone: pin it to UTC
    # so that collected values match the UTC session time zone.
    os.environ["TZ"] = "UTC"
    time.tzset()
    builder = SparkSession.builder.appName(app_name).master(
        os.environ.get("ETL_SPARK_MASTER", "local[2]")
    )
    for key, value in LOCAL_SPARK_CONF.items():
        builder = builder.config(key, value)
    if backend == "delta-spark":
        from delta import configure_spark_with_delta_pip

        for key, value in DELTA_SPARK_CONF.items():
            builder = builder.config(key, value)
        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
