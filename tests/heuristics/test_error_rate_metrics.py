# SPDX-License-Identifier: Apache-2.0
"""The error-rate definitions (``tracer/error_rates.py``) on small hand-made cases whose answers are known."""

from __future__ import annotations

import polars as pl
import pytest

from tracer.error_rates import (
    METRICS,
    Count,
    change_counts,
    clustering_counts,
    coinjoin_counts,
    peel_counts,
    summarize,
    t_interval,
    trace_counts,
    wilson_interval,
)

OWNERS = pl.DataFrame({"address": ["a1", "a2", "a3", "b1", "b2", "c1"],
                       "entity": ["A", "A", "A", "B", "B", "C"], "kind": ["user"] * 6})


def _truth(rows: list[tuple[str, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame([{"txid": t, "kind": k, "coinjoin": c, "launderer": None, "step": None} for t, k, c in rows],
                        schema={"txid": pl.String, "kind": pl.String, "coinjoin": pl.String,
                                "launderer": pl.String, "step": pl.Int64})


def _edges(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame([{"chain": "x", "address": a, "linked_address": b, "txid": t, "heuristic": "multi_input"}
                         for a, b, t in rows])


def test_wilson_and_t_intervals_match_textbook_values() -> None:
    interval = wilson_interval(8, 10)  # the Wilson score interval of 8 in 10: 0.490-0.943
    assert interval is not None and (round(interval[0], 3), round(interval[1], 3)) == (0.490, 0.943)
    assert wilson_interval(0, 0) is None
    t = t_interval([0.1, 0.2, 0.3])  # s = 0.1, t(0.975, 2) = 4.303
    assert t is not None and round(t[0], 3) == 0.2 and round(t[2] - t[0], 3) == round(0.4303 / 3 ** 0.5, 3)
    assert t_interval([0.0, 0.5, 1.0]) == (0.5, 0.0, 1.0)  # clipped to [0, 1]


def test_clustering_pairs_purity_and_a_false_link_through_a_missed_coinjoin() -> None:
    # a1-a2 (right), a3-b1 through tx "cj" (a true CoinJoin the detector missed): A and B merged
    edges = _edges([("a1", "a2", "t1"), ("a3", "b1", "cj"), ("a2", "a3", "t2")])
    counts = clustering_counts(edges, OWNERS, _truth([("cj", "coinjoin", "wasabi")]), "x", "multi_input")
    # predicted {a1,a2,a3,b1}, {b2}, {c1}: 6 pairs, 3 of them one owner; true pairs: A 3 + B 1
    assert counts["multi_input.pairwise_precision"] == Count(3, 6)
    assert counts["multi_input.pairwise_recall"] == Count(3, 4)
    assert counts["multi_input.purity"] == Count(3 + 1 + 1, 6)
    assert counts["multi_input.link_precision"] == Count(2, 3)
    assert counts["multi_input.overmerged_clusters"] == Count(1, 1)
    assert counts["multi_input.false_links_missed_coinjoin"] == Count(1, 1)


def test_one_time_change_precision_and_recall() -> None:
    inputs = pl.DataFrame({"txid": ["p1", "p2"], "address": ["a1", "b1"], "prev_txid": ["f", "f"],
                           "prev_index": [0, 1]})
    outputs = pl.DataFrame({"txid": ["p1", "p1", "p2", "p2"], "index": [0, 1, 0, 1],
                            "address": ["c1", "a2", "b2", "a3"], "value": [5, 5, 5, 5]})
    truth = _truth([("p1", "payment", None), ("p2", "payment", None)])
    # the heuristic linked a1-a2 (right) and b1-a3 (wrong: a3 is A's, the payment) and missed b2
    links = _edges([("a1", "a2", "p1"), ("b1", "a3", "p2")])
    counts = change_counts(links, inputs, outputs, OWNERS, truth)
    assert counts["one_time_change.precision"] == Count(1, 2)
    assert counts["one_time_change.recall"] == Count(1, 2)


def test_coinjoin_recall_per_kind_and_false_positives() -> None:
    truth = _truth([("j1", "coinjoin", "joinmarket"), ("w1", "coinjoin", "wasabi"), ("p1", "payment", None),
                    ("p2", "withdrawal", None), ("cb", "coinbase", None)])
    detected = pl.DataFrame({"txid": ["j1", "p2"], "shape": ["joinmarket", "blocksci"]})
    counts = coinjoin_counts(detected, truth)
    assert counts["coinjoin.recall.joinmarket"] == Count(1, 1)
    assert counts["coinjoin.recall.wasabi"] == Count(0, 1)
    assert counts["coinjoin.recall.whirlpool"] == Count(0, 0)
    assert counts["coinjoin.false_positive_rate"] == Count(1, 2)
    assert counts["coinjoin.precision"] == Count(1, 2)


def test_peel_chain_precision_recall_and_peeled_output() -> None:
    owners = pl.concat([OWNERS, pl.DataFrame({"address": ["l1", "l2"], "entity": ["L", "L"],
                                              "kind": ["launderer"] * 2})])
    truth = pl.DataFrame({"txid": ["s1", "s2", "s3", "u1"], "kind": ["peel", "peel", "peel", "payment"],
                          "coinjoin": [None] * 4, "launderer": ["L", "L", "L", None], "step": [0, 1, 2, None]})
    chains = pl.DataFrame({"txids": [["u1", "s1", "s2"]], "peeled_addresses": [["a1", "b1", "l2"]]})
    counts = peel_counts(chains, owners, truth)
    assert counts["peel_chain.precision"] == Count(2, 3)
    assert counts["peel_chain.recall"] == Count(2, 3)
    assert counts["peel_chain.peel_output_accuracy"] == Count(1, 2)  # s2's "peel" is the launderer's change


def test_trace_shares_count_over_and_under_attribution() -> None:
    counts = trace_counts("haircut", {"A": 60, "B": 30}, {"A": 50, "C": 40}, 100)
    assert counts["trace.haircut.true_entity_share"] == Count(50, 100)
    assert counts["trace.haircut.wrong_entity_share"] == Count(10 + 30, 100)


def test_summarize_pools_counts_and_declares_the_interval() -> None:
    per_seed = [{"coinjoin.recall": Count(9, 10)}, {"coinjoin.recall": Count(10, 10)}]
    rate = summarize(per_seed)["coinjoin.recall"]
    assert (rate["k"], rate["n"], rate["value"], rate["interval"]) == (19, 20, 0.95, "wilson")
    assert rate["per_seed"] == [0.9, 1.0]
    assert rate["lo"] == pytest.approx((wilson_interval(19, 20) or (0.0, 0.0))[0], abs=1e-4)
    assert all(m.interval in ("wilson", "t") for m in METRICS.values())
