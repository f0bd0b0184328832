# SPDX-License-Identifier: Apache-2.0
"""Peel chains: runs of 1-input, 2-output transactions reported as one chain with its length and
the amount peeled at each step (Meiklejohn et al. 2013; Kappos et al. 2022)."""

from __future__ import annotations

import polars as pl
import pytest

from tracer.peel_chains import PEEL_CHAIN_COLUMNS, peel_chains
from tracer.schema import INPUTS, OUTPUTS, TRANSACTIONS, conform

C = "ltc"
# txid -> (height, [spent outpoints], [(address, value)])
Spec = dict[str, tuple[int | None, list[tuple[str, int]], list[tuple[str | None, int]]]]


def frames(spec: Spec) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    tx, ins, outs = [], [], []
    for txid, (height, spent, paid) in spec.items():
        tx.append({"chain": C, "txid": txid, "block_height": height, "block_hash": None, "position": 0,
                   "timestamp": None, "fee": 0, "is_coinbase": False, "source": "t"})
        for i, (prev, vout) in enumerate(spent):
            ins.append({"chain": C, "txid": txid, "index": i, "prev_txid": prev, "prev_index": vout,
                        "address": f"in-{txid}-{i}", "value": 0, "source": "t"})
        for i, (address, value) in enumerate(paid):
            outs.append({"chain": C, "txid": txid, "index": i, "address": address, "script_type": "p2wpkh",
                         "value": value, "source": "t"})
    return (
        conform(pl.DataFrame(tx, schema={**dict(TRANSACTIONS.columns), "fee": pl.Int64}), TRANSACTIONS),
        conform(pl.DataFrame(ins, schema=dict(INPUTS.columns)), INPUTS),
        conform(pl.DataFrame(outs, schema=dict(OUTPUTS.columns)), OUTPUTS),
    )


def chain_of_four() -> Spec:
    """fund -> p1 -> p2 -> p3 -> p4; the continuing output alternates between index 0 and 1."""
    return {
        "fund": (10, [("coinbase", 0)], [("start", 1_000), ("other", 5), ("more", 7)]),
        "p1": (11, [("fund", 0)], [("shop1", 100), ("c1", 890)]),
        "p2": (12, [("p1", 1)], [("c2", 760), ("shop2", 120)]),
        "p3": (12, [("p2", 0)], [("shop3", 60), ("c3", 690)]),
        "p4": (14, [("p3", 1)], [("c4", 600), ("shop4", 80)]),
    }


def test_a_run_of_peels_is_one_chain_with_each_peeled_amount() -> None:
    got = peel_chains(*frames(chain_of_four()))
    assert got.schema == pl.Schema(PEEL_CHAIN_COLUMNS)
    assert got.to_dicts() == [{
        "chain": C, "chain_id": "ltc:p1", "length": 4, "txids": ["p1", "p2", "p3", "p4"],
        "peeled": [100, 120, 60, 80], "peeled_addresses": ["shop1", "shop2", "shop3", "shop4"],
        "continuing": [890, 760, 690, 600], "total_peeled": 360, "start_height": 11, "end_height": 14,
    }]


def test_shorter_runs_than_min_length_are_not_reported() -> None:
    assert peel_chains(*frames(chain_of_four()), min_length=5).height == 0
    assert peel_chains(*frames(chain_of_four()), min_length=4).height == 1
    with pytest.raises(ValueError):
        peel_chains(*frames(chain_of_four()), min_length=0)


def test_a_transaction_with_two_inputs_or_three_outputs_ends_the_chain() -> None:
    spec = chain_of_four()
    spec["p3"] = (12, [("p2", 0), ("fund", 1)], [("shop3", 60), ("c3", 695)])  # two inputs: not a peel
    got = peel_chains(*frames(spec), min_length=1)
    assert got["txids"].to_list() == [["p1", "p2"], ["p4"]]
    spec = chain_of_four()
    spec["p2"] = (12, [("p1", 1)], [("c2", 700), ("shop2", 120), ("x", 60)])  # three outputs: not a peel
    assert peel_chains(*frames(spec), min_length=1)["txids"].to_list() == [["p1"], ["p3", "p4"]]


def test_when_both_outputs_are_peeled_further_the_larger_one_continues() -> None:
    spec = chain_of_four()
    spec["side"] = (13, [("p2", 1)], [("s1", 20), ("s2", 95)])  # spends p2's smaller output
    got = peel_chains(*frames(spec), min_length=1)
    assert got.select("chain_id", "txids", "peeled", "continuing").rows() == [
        ("ltc:p1", ["p1", "p2", "p3", "p4"], [100, 120, 60, 80], [890, 760, 690, 600]),
        ("ltc:side", ["side"], [20], [95]),
    ]


def test_only_the_given_transactions_are_considered() -> None:
    tx, ins, outs = frames(chain_of_four())
    traversed = tx.filter(pl.col("txid").is_in(["p2", "p3", "p4"]))
    got = peel_chains(traversed, ins, outs)
    assert got.select("chain_id", "length", "start_height").rows() == [("ltc:p2", 3, 12)]


def test_no_peels_no_rows() -> None:
    spec = {"fund": (1, [("cb", 0)], [("a", 5), ("b", 6), ("c", 7)])}
    got = peel_chains(*frames(spec), min_length=1)
    assert got.height == 0 and got.schema == pl.Schema(PEEL_CHAIN_COLUMNS)
