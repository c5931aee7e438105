"""PySpark's worker daemon for the test session, without one cost of CPython 3.11.

PySpark's worker calls `importlib.invalidate_caches()` before every task, and on CPython 3.10
and 3.11 a zip archive's importer then reads the archive's whole directory again: the worker's
path holds Spark's core jar, `pyspark.zip` and py4j's zip, so each task of a Python worker
(`createDataFrame` from Python rows, in many tests) spent most of its time there
(python/cpython#103200, fixed in 3.12, where invalidation only marks the directory stale).
The archives on a worker's path do not change during a test session, so here invalidating them
does nothing. The session names this module in `spark.python.daemon.module` (tests/conftest.py).
"""

import zipimport

from pyspark import daemon


def _keep_directory(self: zipimport.zipimporter) -> None:
    return None


zipimport.zipimporter.invalidate_caches = _keep_directory  # type: ignore[method-assign]

if __name__ == "__main__":
    daemon.manager()
