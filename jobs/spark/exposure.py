# SPDX-License-Identifier: Apache-2.0
"""Whole-chain screening exposure on Spark: the N-hop haircut exposure of ``tracer screen``
(:mod:`tracer.exposure`, as :func:`jobs.screening.screen_batch` runs it), for every listed wallet at
once, in exact integers.

Edges are address to address per asset, aggregated over the whole chain: account chains' transfers
(fees, burns and self-transfers are not edges), UTXO transactions split by haircut within each
transaction (:func:`tracer.exposure.utxo_address_edges`). Then, per side (``received_from``: edges
read backward; ``sent_to``: forward), level by level as :class:`tracer.exposure._Levels` does:

* ``X_1(x)`` = per (category, asset) the value ``x`` exchanged with tagged neighbours;
* ``X_k(x)`` = ``X_1(x)`` plus, over every edge to an untagged neighbour ``y``,
  ``floor(amount * X_{k-1}(y) / pool(y))``, with ``pool(y)`` the larger of what ``y`` received and
  sent; a tagged address (not itself screened) gets no level, a large entity (more than
  ``max_edges`` edges on a side, among the addresses the screening job would read) passes on
  nothing but its direct exposure; only addresses within ``hops - k`` of a wallet are computed;
* from 3 hops on, a wallet's exposure is capped at what the category's tagged addresses exchanged
  with its own neighbourhood within ``hops - 1`` (the cycle rule).

Amounts are ``DECIMAL(38,0)`` (exact); the one multiply-and-floor per edge runs on Python integers
in a UDF (``amount * exposure`` can exceed 38 digits for wei amounts), never on doubles. Account
amounts of 10**38 or more (``value_overflow``) are refused. Not computed here: the evidence path of
each exposure (``path``, ``txids``, ``labels`` and ``hops`` of ``tracer screen``'s exposure rows).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tracer.errors import InputError
from tracer.exposure import Side

__all__ = ["account_edges", "utxo_edges", "spark_exposures", "EXPOSURE_SCHEMA"]

EXPOSURE_SCHEMA = ("chain", "wallet", "side", "category", "asset", "amount", "total", "share_bp")
_AMOUNT = "decimal(38,0)"


def _muldiv(a: Decimal | None, b: Decimal | None, c: Decimal | None) -> Decimal | None:
    """``floor(a * b / c)`` in Python integers (exact for any size)."""
    if a is None or b is None or c is None or c == 0:
        return None
    return Decimal(int(a) * int(b) // int(c))


def _muldiv_udf() -> Any:
    from pyspark.sql import functions as F

    return F.udf(_muldiv, _AMOUNT, useArrow=False)


def account_edges(transfers: Any) -> Any:
    """``src``, ``dst``, ``asset``, ``amount``, ``txid`` of an account chain's transfers."""
    from pyspark.sql import functions as F

    if not transfers.filter(F.col("value_overflow").isNotNull()).limit(1).isEmpty():
        raise InputError("the transfers hold amounts of 10**38 or more (value_overflow): the Spark job sums "
                         "DECIMAL(38,0) and refuses them; screen this chain with `tracer screen`")
    rows = transfers.filter((F.col("kind") != "fee") & F.col("to_address").isNotNull()
                            & (F.col("from_address") != F.col("to_address")))
    return (rows.groupBy(F.col("from_address").alias("src"), F.col("to_address").alias("dst"), "asset")
            .agg(F.sum(F.col("value").cast(_AMOUNT)).cast(_AMOUNT).alias("amount"), F.min("txid").alias("txid")))


def utxo_edges(inputs: Any, outputs: Any) -> Any:
    """:func:`tracer.exposure.utxo_address_edges` in Spark: input address ``a`` to output address ``b``
    gets ``floor(in_a * out_b / total_in)`` per transaction (DECIMAL(38,0): satoshi products fit)."""
    from pyspark.sql import functions as F

    amount = F.col("value").cast(_AMOUNT)
    ins = (inputs.filter(F.col("address").isNotNull() & F.col("value").isNotNull())
           .groupBy("txid", F.col("address").alias("src")).agg(F.sum(amount).alias("in_value")))
    totals = inputs.groupBy("txid").agg(F.sum(F.coalesce(amount, F.lit(0).cast(_AMOUNT))).alias("total_in"))
    outs = (outputs.filter(F.col("address").isNotNull())
            .groupBy("txid", F.col("address").alias("dst")).agg(F.sum(amount).alias("out_value")))
    product = (F.col("in_value") * F.col("out_value")).cast(_AMOUNT)
    quotient = ((product - product % F.col("total_in")) / F.col("total_in")).cast(_AMOUNT)  # exact floor
    pairs = (ins.join(outs, "txid").join(totals, "txid").filter(F.col("total_in") > 0)
             .select("src", "dst", "txid", quotient.alias("amount"))
             .filter((F.col("amount") > 0) & (F.col("src") != F.col("dst"))))
    return (pairs.groupBy("src", "dst").agg(F.sum("amount").cast(_AMOUNT).alias("amount"), F.min("txid").alias("txid"))
            .select("src", "dst", F.lit("native").alias("asset"), "amount", "txid"))


def _side_edges(edges: Any, side: Side) -> Any:
    from pyspark.sql import functions as F

    near, far = side.ends
    return edges.select(F.col(near).alias("near"), F.col(far).alias("far"), "asset", "amount")


def _large(edges: Any, wallets: Any, tagged: Any, hops: int, max_edges: int) -> Any:
    """The large entities the screening job finds on one side: addresses of its rings (wallets, then
    the far ends of non-large ring addresses, not tagged, not read before) with more than
    ``max_edges`` edges."""
    from pyspark.sql import functions as F

    expanded = ring = wallets
    found = []
    for hop in range(hops):
        ring_edges = edges.join(ring.withColumnRenamed("address", "near"), "near", "left_semi")
        large = (ring_edges.groupBy("near").count().filter(F.col("count") > max_edges)
                 .select(F.col("near").alias("address"))).localCheckpoint()
        found.append(large)
        if hop == hops - 1:
            break
        ring = (ring_edges.join(large.withColumnRenamed("address", "near"), "near", "left_anti")
                .select(F.col("far").alias("address")).distinct()
                .join(tagged, "address", "left_anti").join(large, "address", "left_anti")
                .join(expanded, "address", "left_anti")).localCheckpoint()
        if ring.isEmpty():
            break
        expanded = expanded.unionByName(ring)
    out = found[0]
    for more in found[1:]:
        out = out.unionByName(more)
    return out.distinct()


def _expand(front: Any, edges: Any, stop: Any, tagged: Any, keys: list[str]) -> Any:
    """One breadth-first step: the untagged far ends of the edges of ``front``'s non-stop addresses."""
    from pyspark.sql import functions as F

    return (front.join(edges.withColumnRenamed("near", "address"), "address")
            .join(stop, "address", "left_anti")
            .select(*[k for k in keys if k != "address"], F.col("far").alias("address"))
            .join(tagged, "address", "left_anti").distinct())


def _one_side(edges: Any, side: Side, wallets: Any, tagged: Any, tag_categories: Any, stop: Any, pool: Any,
              totals: Any, hops: int) -> Any:
    from pyspark.sql import functions as F

    muldiv = _muldiv_udf()
    direct = (edges.join(tag_categories.withColumnRenamed("address", "far"), "far")
              .groupBy(F.col("near").alias("address"), "category", "asset")
              .agg(F.sum("amount").cast(_AMOUNT).alias("amount"))).localCheckpoint()
    levels = direct.filter(F.col("amount") > 0)  # X_1
    if hops > 1:
        # distance from the nearest wallet, through untagged addresses, not beyond large entities
        dist = wallets.withColumn("d", F.lit(0))
        front = wallets
        for d in range(1, hops - 1):
            front = (_expand(front, edges, stop, tagged, ["address"])
                     .join(dist, "address", "left_anti")).localCheckpoint()
            dist = dist.unionByName(front.withColumn("d", F.lit(d)))
        value_stops = tagged.join(wallets, "address", "left_anti")
        for k in range(2, hops + 1):
            nodes = dist.filter(F.col("d") <= hops - k).select("address").join(value_stops, "address", "left_anti")
            inner = levels.select(F.col("address").alias("far"), "category", "asset",
                                  F.col("amount").alias("inner"))
            passed = (edges.join(nodes.withColumnRenamed("address", "near"), "near", "left_semi")
                      .join(stop.withColumnRenamed("address", "near"), "near", "left_anti")
                      .join(tagged.withColumnRenamed("address", "far"), "far", "left_anti")
                      .join(inner, ["far", "asset"])
                      .join(pool.withColumnRenamed("address", "far"), ["far", "asset"])
                      .filter(F.col("pool") > 0)
                      .select(F.col("near").alias("address"), "category", "asset",
                              muldiv("amount", "inner", "pool").alias("amount"))
                      .filter(F.col("amount") > 0))
            levels = (direct.join(nodes, "address", "left_semi").unionByName(passed)
                      .groupBy("address", "category", "asset").agg(F.sum("amount").cast(_AMOUNT).alias("amount"))
                      .filter(F.col("amount") > 0)).localCheckpoint()
    found = levels.join(wallets, "address", "left_semi").withColumnRenamed("address", "wallet")
    if hops > 2:  # the cycle cap: what tagged addresses exchanged with the wallet's own neighbourhood
        reach = wallets.select(F.col("address").alias("wallet"), "address")
        front = reach
        for _ in range(1, hops):
            front = (_expand(front, edges, stop, tagged, ["wallet", "address"])
                     .join(reach, ["wallet", "address"], "left_anti")).localCheckpoint()
            reach = reach.unionByName(front)
        cap = (reach.join(direct, "address").groupBy("wallet", "category", "asset")
               .agg(F.sum("amount").alias("cap")))
        found = (found.join(cap, ["wallet", "category", "asset"], "left")
                 .withColumn("amount", F.least("amount", F.coalesce("cap", "amount")).cast(_AMOUNT)).drop("cap"))
    return (found.join(totals.withColumnRenamed("address", "wallet"), ["wallet", "asset"], "left")
            .withColumn("total", F.coalesce("total", F.lit(0).cast(_AMOUNT)))
            .withColumn("side", F.lit(str(side))))


def spark_exposures(spark: Any, chain: str, edges: Any, wallets: Any, tags: Any, *, hops: int = 2,
                    max_edges: int = 10_000) -> Any:
    """Exposure rows (:data:`EXPOSURE_SCHEMA`, amounts as decimal text) of ``wallets`` (column
    ``address``) to the categories of ``tags`` (``address``, ``category``: the tags screened against,
    already limited to the wanted categories), both sides, within ``hops``."""
    from pyspark.sql import functions as F

    if hops < 1:
        raise InputError("--hops must be at least 1")
    edges = edges.select("src", "dst", "asset", F.col("amount").cast(_AMOUNT).alias("amount")).localCheckpoint()
    wallets = wallets.select("address").distinct().localCheckpoint()
    tag_categories = tags.filter(F.col("category").isNotNull()).select("address", "category").distinct()
    tagged = tag_categories.select("address").distinct().localCheckpoint()
    received = edges.groupBy(F.col("dst").alias("address"), "asset").agg(F.sum("amount").alias("received"))
    sent = edges.groupBy(F.col("src").alias("address"), "asset").agg(F.sum("amount").alias("sent"))
    zero = F.lit(0).cast(_AMOUNT)
    flows = received.join(sent, ["address", "asset"], "full").select(
        "address", "asset", F.coalesce("received", zero).alias("received"), F.coalesce("sent", zero).alias("sent"),
    ).localCheckpoint()
    pool = flows.select("address", "asset", F.greatest("received", "sent").cast(_AMOUNT).alias("pool"))
    sides = {side: _side_edges(edges, side).localCheckpoint() for side in Side}
    stop = None
    for side in Side:
        large = _large(sides[side], wallets, tagged, hops, max_edges)
        stop = large if stop is None else stop.unionByName(large)
    assert stop is not None
    stop = stop.distinct().localCheckpoint()
    muldiv = _muldiv_udf()
    parts = []
    for side in Side:
        total_column = "received" if side is Side.RECEIVED else "sent"
        totals = flows.select("address", "asset", F.col(total_column).alias("total"))
        parts.append(_one_side(sides[side], side, wallets, tagged, tag_categories, stop, pool, totals, hops))
    rows = parts[0].unionByName(parts[1])
    share = F.when(F.col("total") > 0, muldiv("amount", F.lit(10_000).cast(_AMOUNT), "total")).otherwise(zero)
    return rows.select(
        F.lit(chain).alias("chain"), "wallet", "side", "category", "asset",
        F.col("amount").cast("string").alias("amount"), F.col("total").cast("string").alias("total"),
        share.cast("long").alias("share_bp"),
    )
