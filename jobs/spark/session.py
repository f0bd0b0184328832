# SPDX-License-Identifier: Apache-2.0
"""The Spark session of a whole-chain job: local mode by default, any ``--master`` otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracer.errors import InputError

__all__ = ["DEFAULT_MASTER", "spark_session", "spark_job"]

#: two local worker threads: the machine's cores without starving the driver
DEFAULT_MASTER = "local[2]"


def spark_session(master: str | None = None, app_name: str = "tracer", *, shuffle_partitions: int | None = None) -> Any:
    """A SparkSession for ``master`` (``local[N]``, ``spark://host:7077``, ``yarn``, ``k8s://...``);
    ``None`` keeps a master already set by ``spark-submit`` (else local mode). Local mode binds to
    127.0.0.1 and has no web UI; Spark's own log is reduced to errors."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("PySpark is not installed: pip install -e '.[spark]' (it needs Java 17 or later)") from None
    builder = SparkSession.builder.appName(app_name).config("spark.ui.showConsoleProgress", "false")
    submitted = master is None and _submitted()
    if master is None and not submitted:
        master = DEFAULT_MASTER
    if master is not None:
        builder = builder.master(master)
    local = master is not None and master.startswith("local")
    if local:
        import os

        # the workers' Python is this one (polars and the tracer package are installed here)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        builder = (builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.ui.enabled", "false"))
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions or 8))
    elif shuffle_partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _submitted() -> bool:
    """Whether this process was started by ``spark-submit`` (which chose the master already)."""
    import os

    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


@contextmanager
def spark_job(master: str | None, app_name: str) -> Iterator[Any]:
    """A session for one command: stopped afterwards unless it was already running (tests, notebooks)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError("PySpark is not installed: pip install -e '.[spark]' (it needs Java 17 or later)") from None
    running = SparkSession.getActiveSession()
    session = running if running is not None else spark_session(master, app_name)
    try:
        yield session
    finally:
        if running is None:
            session.stop()
