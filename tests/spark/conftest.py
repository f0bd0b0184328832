# SPDX-License-Identifier: Apache-2.0
"""One local SparkSession for the whole test session (local[2], 127.0.0.1, no UI, quiet logs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[spark]')")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from jobs.spark.session import spark_session

    session = spark_session("local[2]", "tracer-tests", shuffle_partitions=4)
    yield session
    session.stop()
