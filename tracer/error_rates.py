# SPDX-License-Identifier: Apache-2.0
"""Error rates of the heuristics, measured against an economy whose true owners are known (issue 23).

Pure functions over canonical frames and two truth frames: ``owners`` (``address``, ``entity``,
``kind``: who really owns each address; a null entity is unknown and left out) and ``truth``
(``txid``, ``kind``, ``coinjoin``, ``launderer``, ``step``: what each transaction really was). Each
measurement returns :class:`Count` values (``k`` of ``n``), so rates of several economies can be
pooled (:func:`summarize`). The generator is ``testing/economy.py``; the results are
``docs/error-rates.json`` (``benchmarks/heuristics.py``). The account side (deposit-address reuse,
exchange attribution, the account trace; generator ``testing/economy_evm.py`` on anvil) is defined
in :mod:`tracer.error_rates_account` and pooled by the same :func:`summarize`.

Definitions
-----------
Clustering (the clusters of :func:`tracer.clustering.clusters` over every known address, an
address without evidence its own cluster), in the pair-counting terms of cluster evaluation
(Manning, Raghavan, Schütze, *Introduction to Information Retrieval*, 2008, §16.3; as used for
Bitcoin clustering by Harrigan and Fretter 2016 and Kappos et al. 2022):

* **pairwise precision** = pairs of addresses in one predicted cluster that one entity owns /
  pairs of addresses in one predicted cluster;
* **pairwise recall** = those pairs / pairs of addresses one entity owns;
* **purity** = Σ over clusters of its largest single-owner share / addresses;
* **link precision** = evidence edges joining two addresses of one owner / evidence edges;
* **over-merged clusters** = clusters of two or more addresses holding more than one entity;
* **false links through missed CoinJoins** = false evidence edges whose transaction is a true
  CoinJoin the detector missed / false evidence edges.

One-time change (Meiklejohn et al., IMC 2013, heuristic 2): a transaction has a **true change
output** when all its inputs belong to one entity, it has at least two outputs, exactly one output
address belongs to that entity and another does not (CoinJoins and coinbases excluded).
**Precision** = change links whose change address the payer owns / change links; **recall** =
true change outputs linked / true change outputs.

CoinJoin detection (:func:`tracer.coinjoin.coinjoin_transactions`): **recall per kind** = true
CoinJoins of that kind detected / true CoinJoins of that kind; **false-positive rate** =
non-CoinJoins flagged / non-CoinJoin, non-coinbase transactions; **precision** = flagged true
CoinJoins / flagged.

Peel chains (:func:`tracer.peel_chains.peel_chains`, ``min_length`` 3): at transaction level,
**precision** = transactions of detected chains that are true peel steps / transactions of
detected chains, **recall** = true peel steps in a detected chain / true peel steps; **peel
output accuracy** = detected true steps whose "peeled" output is the launderer's real payment (not
its own change) / detected true steps.

Trace (:func:`tracer.trace.trace`, forward, no hop limit): seeds are the ransom outputs a
launderer received; every address not the launderer's is tagged with its owner (a stop), so the
trace stops at the first other entity. The truth of where the seed value went: what the
launderer's own transactions paid each other entity, and what the launderer still holds.
**True-entity share** = Σ over entities of min(attributed, true) / seed value; **wrong-entity
share** = Σ over entities of max(attributed − true, 0) / seed value (poison can exceed 1: it does
not conserve value). The rest is fees and value the model leaves unattributed.

Intervals (:func:`summarize`): a count over items that are each judged once (transactions, links)
gets the **Wilson score interval** of the pooled count (E. B. Wilson, JASA 22, 1927), 95 %; a rate
that is not a proportion of independent items (pair counts, value shares) gets the **Student t
interval** of its per-seed values (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n), 95 %. Both are always stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from tracer.clustering import clusters

__all__ = [
    "Count", "METRICS", "Metric", "wilson_interval", "t_interval", "summarize",
    "clustering_counts", "change_counts", "coinjoin_counts", "peel_counts", "trace_counts",
    "true_destinations",
]

_Z95 = 1.959963984540054
#: Student t quantiles t(0.975, df) for df = 1..30 (any table, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2); above, z
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Count:
    """``k`` of ``n`` (items or base units) in one economy."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None


@dataclass(frozen=True)
class Metric:
    """A measured rate: which heuristic or model it judges, what it is, its interval, and which way is good."""

    key: str
    method: str
    name: str
    interval: str  # "wilson" or "t"
    higher_is_better: bool = True
    #: which economy measures it: ``utxo`` (testing/economy.py) or ``account`` (testing/economy_evm.py)
    side: str = "utxo"


def _m(key: str, method: str, name: str, interval: str, higher: bool = True) -> Metric:
    return Metric(key, method, name, interval, higher)


MODELS = ("poison", "haircut", "fifo", "lifo", "tiho")
COINJOIN_KINDS = ("joinmarket", "wasabi", "whirlpool")

#: every rate in the results file, in table order
METRICS: dict[str, Metric] = {m.key: m for m in (
    *(x for prefix, method in (("multi_input", "multi_input"), ("multi_input+change", "one_time_change"))
      for x in (
          _m(f"{prefix}.pairwise_precision", method, f"clustering ({prefix}): pairwise precision", "t"),
          _m(f"{prefix}.pairwise_recall", method, f"clustering ({prefix}): pairwise recall", "t"),
          _m(f"{prefix}.purity", method, f"clustering ({prefix}): cluster purity", "t"),
          _m(f"{prefix}.link_precision", method, f"clustering ({prefix}): evidence links between one owner's "
                                                 "addresses", "wilson"),
          _m(f"{prefix}.overmerged_clusters", method, f"clustering ({prefix}): clusters holding several entities",
             "wilson", False),
          _m(f"{prefix}.false_links_missed_coinjoin", method, f"clustering ({prefix}): false links made by a "
                                                              "missed CoinJoin", "wilson", False),
      )),
    _m("one_time_change.precision", "one_time_change", "one-time change: precision of change links", "wilson"),
    _m("one_time_change.recall", "one_time_change", "one-time change: recall of true change outputs", "wilson"),
    *(_m(f"coinjoin.recall.{k}", "coinjoin", f"CoinJoin detection: recall, {k} kind", "wilson")
      for k in COINJOIN_KINDS),
    _m("coinjoin.recall", "coinjoin", "CoinJoin detection: recall, all kinds", "wilson"),
    _m("coinjoin.precision", "coinjoin", "CoinJoin detection: precision", "wilson"),
    _m("coinjoin.false_positive_rate", "coinjoin", "CoinJoin detection: non-CoinJoins flagged", "wilson", False),
    _m("peel_chain.precision", "peel_chain", "peel chains: precision (transactions)", "wilson"),
    _m("peel_chain.recall", "peel_chain", "peel chains: recall (transactions)", "wilson"),
    _m("peel_chain.peel_output_accuracy", "peel_chain", "peel chains: peeled output is the real payment",
       "wilson"),
    *(x for model in MODELS for x in (
        _m(f"trace.{model}.true_entity_share", model, f"trace ({model}): value attributed to the true receiver",
           "t"),
        _m(f"trace.{model}.wrong_entity_share", model, f"trace ({model}): value attributed to a wrong entity",
           "t", False),
    )),
)}


# -- intervals -------------------------------------------------------------------------------------------------
def wilson_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float] | None:
    """Wilson's score interval for ``k`` successes in ``n`` trials (95 % by default); None for n = 0 or
    ``k`` outside ``0..n``.

    >>> [round(x, 4) for x in wilson_interval(10, 10)]
    [0.7225, 1.0]
    """
    if n == 0 or not 0 <= k <= n:  # not a proportion (poison's shares exceed 1)
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values: Sequence[float]) -> tuple[float, float, float] | None:
    """Mean and 95 % Student t interval of per-seed values (one value: the interval is the value), clipped
    to [0, 1] (to [0, largest value] when a value exceeds 1).

    >>> [round(x, 3) for x in t_interval([0.8, 0.9, 0.85])]
    [0.85, 0.726, 0.974]
    """
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return mean, mean, mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = _T975[n - 2] if n - 1 <= len(_T975) else _Z95
    # a rate is never below 0, nor above 1 unless a value is (poison's shares can exceed 1)
    top = max(1.0, *values)
    return mean, max(0.0, mean - t * sd / math.sqrt(n)), min(top, mean + t * sd / math.sqrt(n))


def summarize(per_seed: Sequence[Mapping[str, Count]],
              metrics: Mapping[str, Metric] | None = None) -> dict[str, dict[str, Any]]:
    """Pool each metric's counts over the seeds: pooled value, Wilson interval, per-seed values, t interval,
    and which interval :data:`METRICS` (or ``metrics``: the account side's) declares primary (``interval``:
    ``lo``/``hi``). Account-side rates also carry their ``side``."""
    out: dict[str, dict[str, Any]] = {}
    for key, metric in (METRICS if metrics is None else metrics).items():
        counts = [s[key] for s in per_seed if key in s]
        k, n = sum(c.k for c in counts), sum(c.n for c in counts)
        values = [c.value for c in counts if c.value is not None]
        wilson = wilson_interval(k, n)
        t = t_interval(values)
        primary = wilson if metric.interval == "wilson" else (t[1:] if t else None)
        out[key] = {
            "method": metric.method, "name": metric.name, "interval": metric.interval,
            "higher_is_better": metric.higher_is_better, "k": k, "n": n,
            "value": _round(k / n) if n else None,
            "mean": _round(t[0]) if t else None,
            "lo": _round(primary[0]) if primary else None, "hi": _round(primary[1]) if primary else None,
            "wilson": [_round(x) for x in wilson] if wilson else None,
            "t": [_round(x) for x in t[1:]] if t else None,
            "per_seed": [_round(v) for v in values],
        }
        if metric.side != "utxo":
            out[key]["side"] = metric.side
    return out


def _round(x: float) -> float:
    return round(x, 4)


# -- clustering -------------------------------------------------------------------------------------------------
def _pairs(n: pl.Expr) -> pl.Expr:
    return (n * (n - 1) // 2).sum()


def clustering_counts(edges: pl.DataFrame, owners: pl.DataFrame, truth: pl.DataFrame, chain: str,
                      prefix: str) -> dict[str, Count]:
    """Pairwise precision/recall, purity, link precision and over-merging of the clusters ``edges`` make
    (:data:`tracer.clustering.EVIDENCE_COLUMNS`), over every address of known owner."""
    known = owners.filter(pl.col("entity").is_not_null()).select("address", "entity")
    predicted = clusters(edges, known["address"], chain, "error-rates").join(known, on="address", how="inner")
    cells = predicted.group_by("cluster_id", "entity").len("n")
    sizes = predicted.group_by("cluster_id").agg(pl.len().alias("n"), pl.col("entity").n_unique().alias("owners"))
    together = cells.select(_pairs(pl.col("n"))).item()
    predicted_pairs = sizes.select(_pairs(pl.col("n"))).item()
    true_pairs = known.group_by("entity").len("n").select(_pairs(pl.col("n"))).item()
    largest = cells.group_by("cluster_id").agg(pl.col("n").max()).select(pl.col("n").sum()).item()
    judged = edges.join(known, on="address", how="inner").join(
        known.rename({"address": "linked_address", "entity": "linked_entity"}), on="linked_address", how="inner")
    false = judged.filter(pl.col("entity") != pl.col("linked_entity"))
    through_coinjoin = false.join(truth.filter(pl.col("kind") == "coinjoin").select("txid"), on="txid", how="semi")
    multi = sizes.filter(pl.col("n") >= 2)
    return {
        f"{prefix}.pairwise_precision": Count(int(together), int(predicted_pairs)),
        f"{prefix}.pairwise_recall": Count(int(together), int(true_pairs)),
        f"{prefix}.purity": Count(int(largest or 0), known.height),
        f"{prefix}.link_precision": Count(judged.height - false.height, judged.height),
        f"{prefix}.overmerged_clusters": Count(multi.filter(pl.col("owners") > 1).height, multi.height),
        f"{prefix}.false_links_missed_coinjoin": Count(through_coinjoin.height, false.height),
    }


# -- one-time change --------------------------------------------------------------------------------------------
def change_counts(change_edges: pl.DataFrame, inputs: pl.DataFrame, outputs: pl.DataFrame, owners: pl.DataFrame,
                  truth: pl.DataFrame) -> dict[str, Count]:
    """Precision of one-time-change links and recall of true change outputs (see the module docstring)."""
    known = owners.filter(pl.col("entity").is_not_null()).select("address", "entity")
    ordinary = truth.filter(~pl.col("kind").is_in(["coinjoin", "coinbase", "foreign"])).select("txid")
    payer = (inputs.join(ordinary, on="txid", how="semi").join(known, on="address", how="left")
             .group_by("txid").agg(pl.col("entity").n_unique().alias("m"), pl.col("entity").first().alias("payer"),
                                   pl.col("entity").null_count().alias("unknown"))
             .filter((pl.col("m") == 1) & (pl.col("unknown") == 0)).select("txid", "payer"))
    outs = outputs.join(payer, on="txid", how="inner").join(known, on="address", how="left")
    per_tx = outs.group_by("txid").agg(
        pl.len().alias("outputs"),
        (pl.col("entity") == pl.col("payer")).fill_null(False).sum().alias("own"),
        pl.col("address").filter(pl.col("entity") == pl.col("payer")).first().alias("change"),
    )
    true_change = per_tx.filter((pl.col("outputs") >= 2) & (pl.col("own") == 1)).select("txid", "change")
    links = change_edges.join(known.rename({"entity": "payer"}), on="address", how="inner").join(
        known.rename({"address": "linked_address"}), on="linked_address", how="inner")
    correct = links.filter(pl.col("payer") == pl.col("entity")).height
    found = true_change.join(change_edges.select("txid", pl.col("linked_address").alias("change")),
                             on=["txid", "change"], how="semi").height
    return {"one_time_change.precision": Count(correct, links.height),
            "one_time_change.recall": Count(found, true_change.height)}


# -- CoinJoins ------------------------------------------------------------------------------------------------
def coinjoin_counts(detected: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Count]:
    """Recall per true CoinJoin kind, precision and false-positive rate of ``detected`` (``txid``, ``shape``)."""
    flagged = set(detected["txid"].to_list())
    joins = truth.filter(pl.col("kind") == "coinjoin")
    out: dict[str, Count] = {}
    for kind in COINJOIN_KINDS:
        ids = joins.filter(pl.col("coinjoin") == kind)["txid"].to_list()
        out[f"coinjoin.recall.{kind}"] = Count(sum(t in flagged for t in ids), len(ids))
    real = set(joins["txid"].to_list())
    others = set(truth.filter(~pl.col("kind").is_in(["coinjoin", "coinbase", "foreign"]))["txid"].to_list())
    out["coinjoin.recall"] = Count(len(real & flagged), len(real))
    out["coinjoin.precision"] = Count(len(real & flagged), len(flagged & (real | others)))
    out["coinjoin.false_positive_rate"] = Count(len(others & flagged), len(others))
    return out


# -- peel chains ----------------------------------------------------------------------------------------------
def peel_counts(chains: pl.DataFrame, owners: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Count]:
    """Transaction-level precision/recall of detected peel ``chains`` (:data:`tracer.peel_chains.PEEL_CHAIN_COLUMNS`)
    against the true peel steps, and whether each detected true step's peeled output is the real payment."""
    steps = chains.select("txids", pl.col("peeled_addresses")).explode("txids", "peeled_addresses")
    steps = steps.rename({"txids": "txid", "peeled_addresses": "peeled"})
    true_steps = truth.filter(pl.col("kind") == "peel").select("txid", "launderer")
    judged = set(truth.filter(~pl.col("kind").is_in(["coinbase", "foreign"]))["txid"].to_list())
    detected = set(steps["txid"].to_list()) & judged
    real = set(true_steps["txid"].to_list())
    hits = steps.join(true_steps, on="txid", how="inner").join(
        owners.select(pl.col("address").alias("peeled"), "entity"), on="peeled", how="left")
    right = hits.filter(pl.col("entity").is_not_null() & (pl.col("entity") != pl.col("launderer"))).height
    return {"peel_chain.precision": Count(len(detected & real), len(detected)),
            "peel_chain.recall": Count(len(detected & real), len(real)),
            "peel_chain.peel_output_accuracy": Count(right, hits.height)}


# -- trace ------------------------------------------------------------------------------------------------------
def true_destinations(launderer: str, inputs: pl.DataFrame, outputs: pl.DataFrame, owners: pl.DataFrame,
                      truth: pl.DataFrame) -> dict[str, int]:
    """Where the launderer's value really went: per entity, what its own (non-CoinJoin) transactions paid
    that entity, and for the launderer itself what it still holds (unspent outputs it owns)."""
    own = owners.filter(pl.col("entity") == launderer).select("address")
    mine = truth.filter((pl.col("launderer") == launderer) & (pl.col("kind") != "ransom")).select("txid")
    paid = (outputs.join(mine, on="txid", how="semi").join(owners.select("address", "entity"), on="address",
                                                           how="left")
            .filter(pl.col("entity") != launderer).group_by("entity").agg(pl.col("value").sum()))
    spent = inputs.select(pl.col("prev_txid").alias("txid"), pl.col("prev_index").alias("index"))
    held = outputs.join(own, on="address", how="semi").join(spent, on=["txid", "index"], how="anti")
    dest = {str(e): int(v) for e, v in paid.iter_rows() if e is not None}
    dest[launderer] = int(held["value"].sum() or 0)
    return dest


def trace_counts(model: str, attributed: Mapping[str, int], truth_dest: Mapping[str, int],
                 seed_value: int) -> dict[str, Count]:
    """True- and wrong-entity shares of one traced seed value (see the module docstring)."""
    entities: Iterable[str] = set(attributed) | set(truth_dest)
    right = sum(min(attributed.get(e, 0), truth_dest.get(e, 0)) for e in entities)
    wrong = sum(max(attributed.get(e, 0) - truth_dest.get(e, 0), 0) for e in entities)
    return {f"trace.{model}.true_entity_share": Count(right, seed_value),
            f"trace.{model}.wrong_entity_share": Count(wrong, seed_value)}
