"""GlueContext: Glue's wrapper of the SparkContext; here only what the entry point uses."""

from __future__ import annotations

from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession


class GlueContext:
    def __init__(self, sparkContext: SparkContext, **options: Any) -> None:
        self._sc = sparkContext
        # As Glue's: a session over the context it is given, with that context's configuration.
        self.spark_session = SparkSession(sparkContext)
