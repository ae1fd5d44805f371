"""Start (or join) the Spark session of a run, with the settings the engine's results rely on.

Under `spark-submit` the session already exists and its settings (master, memory) come from
the submit command; `getOrCreate` joins it. Run from the command line, the engine starts a
local or remote session for `--spark-master`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

from collections_engine.errors import Unavailable

__all__ = ["spark_session", "check_available", "ENGINE_CONF"]

# Settings every session of the engine gets unless the submit command or spark-defaults set
# them: UTC (dates are midnights, never shifted by a time zone), pandas-written nanosecond
# parquet timestamps read as integers (Spark has no nanosecond type; the partitions turn them
# back into dates), Arrow batches small enough for a worker's memory.
ENGINE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.sql.adaptive.enabled": "true",
    # The driver collects tonight's scored accounts and the ring parts' members by design (the
    # 100k book: 42 and 62 MiB of task results; the 3M book: 1.25 and 1.38 GiB): Spark's
    # default cap of 1g on one action's results would fail the night above about 2.2M accounts.
    # The driver's memory (--driver-memory, or the cluster's driver size) is the limit instead.
    "spark.driver.maxResultSize": "0",
}


def check_available() -> None:
    """Unavailable (exit 1: the machine lacks a runtime, the input is fine) naming what to
    install when pyspark or Java is missing, in one line."""
    problems = []
    if importlib.util.find_spec("pyspark") is None:
        problems.append("pyspark is not installed; expected the spark extra: pip install -e '.[spark]' "
                        "(scripts/test.sh installs it)")
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        problems.append("no Java found (java on PATH or JAVA_HOME); expected Java 17 or newer, e.g. Debian's "
                        "openjdk-17-jre-headless")
    if problems:
        raise Unavailable("--engine spark: " + "; ".join(problems))


def spark_session(master: str | None, *, shuffle_partitions: int | None = None):
    """The session: joins a running one (spark-submit) or starts one on `master` (local[*])."""
    check_available()
    from pyspark.sql import SparkSession

    # Python workers use this interpreter (the venv with the engine) unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        spark = active
    else:
        builder = SparkSession.builder.appName("collections-engine")
        if master:
            builder = builder.master(master)
        elif not os.environ.get("PYSPARK_SUBMIT_ARGS"):
            builder = builder.master("local[*]")
        for key, value in ENGINE_CONF.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    for key, value in ENGINE_CONF.items():
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    if shuffle_partitions:
        spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    return spark
