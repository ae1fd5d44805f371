"""The Spark engine of the nightly run (`run --engine spark`): the same feature, scoring and
ring code as the in-process engine, run by Spark where the data lives.

pyspark is an optional extra (`pip install -e .[spark]`, Java 17+); nothing here is imported
unless `--engine spark` is asked for.
"""

from collections_engine.spark.engine import SparkEngine

__all__ = ["SparkEngine"]
