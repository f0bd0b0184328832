# SPDX-License-Identifier: Apache-2.0
"""Address clustering: multi-input evidence, CoinJoins kept out, one-time change, union-find with
content-derived ids, and the explanation of why two addresses share a cluster."""

from __future__ import annotations

import random

import polars as pl
import pytest

from tracer.clustering import (
    EVIDENCE_COLUMNS,
    _union_find_reference,
    clusters,
    connected_labels,
    explain,
    multi_input_links,
    one_time_change_links,
)
from tracer.coinjoin import coinjoin_transactions
from tracer.errors import NotFoundError
from tracer.schema import CLUSTERS, INPUTS, OUTPUTS, TRANSACTIONS, conform

C = "btc"
NO_COINJOINS = pl.DataFrame(schema={"chain": pl.String, "txid": pl.String})


def inputs(rows: list[tuple[str, str | None]], chain: str = C) -> pl.DataFrame:
    """Canonical inputs from (txid, address) pairs, indexed in order per transaction."""
    seen: dict[str, int] = {}
    out = []
    for txid, address in rows:
        i = seen[txid] = seen.get(txid, -1) + 1
        out.append({"chain": chain, "txid": txid, "index": i, "prev_txid": f"p-{txid}-{i}", "prev_index": 0,
                    "address": address, "value": 1_000, "source": "test"})
    return conform(pl.DataFrame(out, schema=dict(INPUTS.columns)), INPUTS)


def edges(rows: list[tuple[str, str, str]], heuristic: str = "multi_input") -> pl.DataFrame:
    return pl.DataFrame(
        [{"chain": C, "address": a, "linked_address": b, "txid": t, "heuristic": heuristic} for a, b, t in rows],
        schema=EVIDENCE_COLUMNS,
    )


def membership(frame: pl.DataFrame) -> dict[str, str]:
    return dict(zip(frame["address"].to_list(), frame["cluster_id"].to_list(), strict=True))


# -- multi-input ----------------------------------------------------------------------------------------
def test_multi_input_is_a_star_from_the_smallest_input_address() -> None:
    ins = inputs([("t1", "m"), ("t1", "c"), ("t1", "k"), ("t1", "c")])
    links = multi_input_links(ins, NO_COINJOINS)
    assert links.schema == pl.Schema(EVIDENCE_COLUMNS)
    assert links.rows() == [(C, "c", "k", "t1", "multi_input"), (C, "c", "m", "t1", "multi_input")]


def test_single_address_and_addressless_inputs_give_no_evidence() -> None:
    ins = inputs([("coinbase", None), ("one", "a"), ("same", "b"), ("same", "b"), ("odd", None), ("odd", "q")])
    assert multi_input_links(ins, NO_COINJOINS).height == 0


def test_coinjoins_are_skipped() -> None:
    ins = inputs([("spend", "a1"), ("spend", "a2"), ("mix", "a2"), ("mix", "b1")])
    mix = pl.DataFrame({"chain": [C], "txid": ["mix"]})
    assert multi_input_links(ins, mix)["txid"].to_list() == ["spend"]


# -- clusters -------------------------------------------------------------------------------------------
def test_unions_across_transactions_and_the_smallest_member_names_the_cluster() -> None:
    ev = edges([("d", "e", "t1"), ("b", "d", "t2"), ("x", "y", "t3")])
    got = clusters(ev, None, C, "run-1")
    assert got.schema == pl.Schema(CLUSTERS.columns)
    assert membership(got) == {"b": "btc:b", "d": "btc:b", "e": "btc:b", "x": "btc:x", "y": "btc:x"}
    assert set(got["source"]) == {"run-1"}


def test_ids_do_not_depend_on_row_order() -> None:
    rows = [(f"a{i:03d}", f"a{(i * 7) % 50:03d}", f"t{i}") for i in range(50)] + [("z1", "z2", "tz")]
    expected = clusters(edges(rows), None, C, "s")
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        flipped = [(b, a, t) for a, b, t in shuffled]
        assert clusters(edges(shuffled), None, C, "s").equals(expected)
        assert clusters(edges(flipped), None, C, "s").equals(expected)


def test_singletons_have_rows_only_when_asked_for() -> None:
    ev = edges([("a", "b", "t1")])
    assert membership(clusters(ev, None, C, "s")) == {"a": "btc:a", "b": "btc:a"}
    assert membership(clusters(ev, ["lonely", "b"], C, "s")) == {"a": "btc:a", "b": "btc:a", "lonely": "btc:lonely"}
    assert clusters(edges([]), None, C, "s").height == 0


def test_edges_of_other_chains_are_ignored() -> None:
    ev = pl.concat([edges([("a", "b", "t1")]), edges([("b", "c", "t2")]).with_columns(pl.lit("ltc").alias("chain"))])
    assert membership(clusters(ev, None, C, "s")) == {"a": "btc:a", "b": "btc:a"}


def test_components_match_a_plain_union_find() -> None:
    rng = random.Random(7)
    n = 2_000
    a = [rng.randrange(n) for _ in range(1_500)]
    b = [rng.randrange(n) for _ in range(1_500)]
    got = connected_labels(n, pl.Series(a), pl.Series(b)).to_list()
    assert got == _union_find_reference(n, a, b)
    # a long path in shuffled order needs many rounds of hooking and pointer jumping
    order = list(range(n))
    rng.shuffle(order)
    assert set(connected_labels(n, pl.Series(order[:-1]), pl.Series(order[1:])).to_list()) == {0}


# -- two users and a CoinJoin between them (issue 6) -------------------------------------------------------
def two_users_and_a_coinjoin() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Alice and Bob each consolidate two of their coins; then each brings another coin of an address
    they consolidated from (alice2, bob2) to a CoinJoin: 2 equal outputs and 2 change outputs."""
    ins = inputs([("alice-consolidates", "alice1"), ("alice-consolidates", "alice2"),
                  ("bob-consolidates", "bob1"), ("bob-consolidates", "bob2"),
                  ("mix", "alice2"), ("mix", "bob2")])
    outs = pl.DataFrame(
        [{"chain": C, "txid": t, "index": i, "address": a, "script_type": "p2wpkh", "value": v, "source": "test"}
         for t, i, a, v in [("alice-consolidates", 0, "alice3", 1_990), ("bob-consolidates", 0, "bob3", 1_990),
                            ("mix", 0, "out1", 900), ("mix", 1, "out2", 900), ("mix", 2, "alice4", 80),
                            ("mix", 3, "bob4", 85)]],
        schema=dict(OUTPUTS.columns),
    )
    return ins, conform(outs, OUTPUTS)


def test_a_coinjoin_between_two_users_does_not_merge_them() -> None:
    ins, outs = two_users_and_a_coinjoin()
    mixes = coinjoin_transactions(ins, outs)
    assert mixes["txid"].to_list() == ["mix"]
    got = membership(clusters(multi_input_links(ins, mixes), None, C, "s"))
    assert got == {"alice1": "btc:alice1", "alice2": "btc:alice1", "bob1": "btc:bob1", "bob2": "btc:bob1"}


def test_without_coinjoin_detection_the_two_users_would_be_merged() -> None:
    ins, _ = two_users_and_a_coinjoin()
    got = membership(clusters(multi_input_links(ins, NO_COINJOINS), None, C, "s"))
    assert set(got.values()) == {"btc:alice1"}
    assert set(got) == {"alice1", "alice2", "bob1", "bob2"}


# -- explain --------------------------------------------------------------------------------------------
def test_explain_gives_the_shortest_chain_of_linking_transactions() -> None:
    ev = edges([("a", "b", "t1"), ("b", "c", "t2"), ("c", "d", "t3"), ("a", "x", "t4"), ("d", "x", "t5"),
                ("q", "r", "t6")])
    path = explain(ev, "a", "d")
    assert [(s["address"], s["linked_address"], s["txid"]) for s in path] == [("a", "x", "t4"), ("x", "d", "t5")]
    assert {s["heuristic"] for s in path} == {"multi_input"}
    assert [s["txid"] for s in explain(ev, "b", "c")] == ["t2"]
    assert [(s["address"], s["linked_address"]) for s in explain(ev, "c", "a")] == [("c", "b"), ("b", "a")]


def test_explain_of_one_address_is_empty_and_of_two_clusters_is_an_error() -> None:
    ev = edges([("a", "b", "t1"), ("q", "r", "t6")])
    assert explain(ev, "a", "a") == []
    with pytest.raises(NotFoundError, match="not in one cluster"):
        explain(ev, "a", "q")


def test_explain_names_every_heuristic_on_the_path() -> None:
    ev = pl.concat([edges([("a", "b", "t1")]), edges([("b", "c", "t2")], heuristic="one_time_change")])
    assert [(s["txid"], s["heuristic"]) for s in explain(ev, "a", "c")] == [
        ("t1", "multi_input"), ("t2", "one_time_change")
    ]


# -- one-time change ----------------------------------------------------------------------------------------
def change_case(extra: list[tuple[str, int, int, str, int]] | None = None, unconfirmed: bool = False
                ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``earlier`` pays shop (so shop is known); ``pay`` spends payer1+payer2 to shop and a fresh change."""
    txs = [("earlier", 1, False), ("pay", None if unconfirmed else 2, False)]
    outs = [("earlier", 0, 0, "shop", 500), ("pay", 0, 0, "shop", 700), ("pay", 1, 0, "change", 280)] + (extra or [])
    tx = pl.DataFrame(
        [{"chain": C, "txid": t, "block_height": h, "block_hash": None if h is None else f"h{h}", "position": 1,
          "timestamp": None if h is None else 1_000 + (h or 0), "fee": 0, "is_coinbase": cb, "source": "test"}
         for t, h, cb in txs],
        schema={**dict(TRANSACTIONS.columns), "fee": pl.Int64},
    )
    out = pl.DataFrame(
        [{"chain": C, "txid": t, "index": i, "address": a, "script_type": "p2wpkh", "value": v, "source": "test"}
         for t, i, _, a, v in outs],
        schema=dict(OUTPUTS.columns),
    )
    ins = inputs([("pay", "payer2"), ("pay", "payer1")])
    return conform(tx, TRANSACTIONS), ins, conform(out, OUTPUTS)


def test_the_one_fresh_output_is_the_change_and_joins_the_payer() -> None:
    tx, ins, outs = change_case()
    links = one_time_change_links(tx, ins, outs, NO_COINJOINS)
    assert links.rows() == [(C, "payer1", "change", "pay", "one_time_change")]


def test_two_fresh_outputs_or_self_change_or_no_history_give_no_change_link() -> None:
    tx, ins, outs = change_case(extra=[("pay", 2, 0, "other-fresh", 10)])
    assert one_time_change_links(tx, ins, outs, NO_COINJOINS).height == 0
    tx, ins, outs = change_case(extra=[("pay", 2, 0, "payer1", 10)])  # change back to an input address
    assert one_time_change_links(tx, ins, outs, NO_COINJOINS).height == 0
    tx, ins, outs = change_case(unconfirmed=True)
    assert one_time_change_links(tx, ins, outs, NO_COINJOINS).height == 0
    tx, ins, outs = change_case()
    assert one_time_change_links(tx, ins, outs, pl.DataFrame({"chain": [C], "txid": ["pay"]})).height == 0
