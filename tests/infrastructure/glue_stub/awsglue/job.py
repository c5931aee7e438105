"""Job: `init` and `commit`, each recorded with the session as it is at that moment."""

from __future__ import annotations

import json
import os
from typing import Any

from awsglue.context import GlueContext

RECORD = "AWSGLUE_STUB_RECORD"


def session_snapshot(glue_context: GlueContext) -> dict[str, Any]:
    spark = glue_context.spark_session
    sc = spark.sparkContext
    # SQL first: a session's first query adds Spark's own spark.sql.warehouse.dir to the conf.
    sql_set = {row["key"]: row["value"] for row in spark.sql("SET").collect()}
    return {
        "master": sc.master,
        "app_name": sc.appName,
        "spark_conf": dict(sc.getConf().getAll()),
        "sql_set": sql_set,
    }


class Job:
    def __init__(self, glue_context: GlueContext) -> None:
        self._glue_context = glue_context
        self._name: str | None = None

    def _record(self, call: str, **details: Any) -> None:
        entry = {"call": call, "job_name": self._name, **details}
        entry["session"] = session_snapshot(self._glue_context)
        with open(os.environ[RECORD], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def init(self, job_name: str, args: dict[str, Any] | None = None) -> None:
        if self._name is not None:
            raise RuntimeError("Job.init called twice")
        self._name = job_name
        self._record("init", args=dict(args or {}))

    def isInitialized(self) -> bool:
        return self._name is not None

    def commit(self) -> None:
        if self._name is None:
            raise RuntimeError("Job.commit before Job.init")
        self._record("commit")
