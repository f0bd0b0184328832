# SPDX-License-Identifier: Apache-2.0
"""Connected components on Spark DataFrames: the alternating large-star / small-star algorithm of
Kiveris, Lattanzi, Mirrokni, Rastogi and Vassilvitskii, "Connected Components in MapReduce and
Beyond", ACM SoCC 2014 (§3: ``O(log^2 n)`` rounds, linear communication per round).

GraphFrames is not used: its jar is not on PyPI (it comes from Spark Packages / Maven), and these
jobs must run from what ``pip`` installs. Nodes are the address strings themselves; strings compare
as bytes in Spark as in polars, so each component ends labelled with its smallest member address —
the same label :func:`tracer.clustering.connected_labels` gives, hence the same cluster ids.

Edges are kept normalized as ``(lo, hi)`` with ``lo < hi``. One round:

* **large-star**: every node ``u`` links each *larger* neighbour ``v`` to ``m(u)``, the smallest of
  ``u`` and its neighbours;
* **small-star**: every node ``u`` links itself and each *smaller* neighbour to the smallest of them.

Both keep the components and only lower labels. The rounds stop at the fixed point, a forest of
stars whose centres are their components' smallest nodes: no node is both a centre (``lo``) and a
leaf (``hi``), and every leaf has one centre.
"""

from __future__ import annotations

from typing import Any

__all__ = ["connected_components", "MAX_ROUNDS"]

#: far above the O(log^2 n) the paper proves (a path of 10M nodes needs ~30 rounds)
MAX_ROUNDS = 200


def _normalized(frame: Any) -> Any:
    from pyspark.sql import functions as F

    return (frame.select(F.least("a", "b").alias("lo"), F.greatest("a", "b").alias("hi"))
            .filter(F.col("lo") != F.col("hi")).distinct())


def _large_star(edges: Any) -> Any:
    from pyspark.sql import functions as F

    both = edges.select(F.col("lo").alias("u"), F.col("hi").alias("v")).unionByName(
        edges.select(F.col("hi").alias("u"), F.col("lo").alias("v")))
    smallest = both.groupBy("u").agg(F.least(F.min("v"), F.first("u")).alias("m"))
    emitted = both.filter(F.col("v") > F.col("u")).join(smallest, "u").select(F.col("v").alias("a"),
                                                                             F.col("m").alias("b"))
    return _normalized(emitted)


def _small_star(edges: Any) -> Any:
    from pyspark.sql import functions as F

    smallest = edges.groupBy("hi").agg(F.min("lo").alias("m"))
    leaves = edges.join(smallest, "hi").select(F.col("lo").alias("a"), F.col("m").alias("b"))
    centre = smallest.select(F.col("hi").alias("a"), F.col("m").alias("b"))
    return _normalized(leaves.unionByName(centre))


def _converged(edges: Any) -> bool:
    from pyspark.sql import functions as F

    if not edges.select("lo").intersect(edges.select("hi")).isEmpty():
        return False
    return edges.groupBy("hi").agg(F.count_distinct("lo").alias("n")).filter(F.col("n") > 1).isEmpty()


def connected_components(edges: Any, a: str = "a", b: str = "b") -> tuple[Any, int]:
    """``node``, ``root`` for every node of ``edges`` (columns ``a`` and ``b``, undirected):
    ``root`` is the smallest node of its component. Returns the frame and the number of rounds."""
    current = _normalized(edges.select(edges[a].alias("a"), edges[b].alias("b"))).localCheckpoint()
    rounds = 0
    while True:
        if _converged(current):
            break
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        current = _small_star(_large_star(current)).localCheckpoint()
    from pyspark.sql import functions as F

    roots = current.select(F.col("lo").alias("node"), F.col("lo").alias("root")).distinct()
    leaves = current.select(F.col("hi").alias("node"), F.col("lo").alias("root"))
    return roots.unionByName(leaves), rounds
