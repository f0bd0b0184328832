# SPDX-License-Identifier: Apache-2.0
"""Whole-chain jobs on Apache Spark: clustering and screening exposure over canonical Parquet frames.

The same rules and the same answers as the single-machine jobs (``jobs.clustering_runs``,
``jobs.screening``), distributed: :mod:`jobs.spark.clustering` (multi-input with CoinJoin exclusion,
connected components by large-star/small-star, :mod:`jobs.spark.components`) and
:mod:`jobs.spark.exposure` (N-hop haircut exposure, exact integers). PySpark is an optional
dependency (``pip install -e .[spark]``): nothing here is imported unless a Spark command runs.
"""
