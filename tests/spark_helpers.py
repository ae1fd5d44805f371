"""What the Spark tests share: the module skip when pyspark or Java is missing (an error under
CI, where scripts/test.sh installs both) and one local[2] session for the test session."""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def require_spark() -> None:
    """Skip the calling test module without pyspark or Java; under CI their absence is an error."""
    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        if os.environ.get("CI"):
            raise RuntimeError("pyspark or Java missing in CI: scripts/test.sh installs both")
        pytest.skip("pyspark or Java not installed (pip install -e '.[spark]')", allow_module_level=True)


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the whole test session (the engine joins it instead of starting
    its own): each module that imports this fixture gets its own instance of it, and every one
    after the first joins the running session (`spark_session` joins an active one), so the JVM
    starts once; it stops when the test session ends."""
    from collections_engine.spark.session import spark_session

    s = spark_session("local[2]", shuffle_partitions=4)
    yield s
    s.stop()
