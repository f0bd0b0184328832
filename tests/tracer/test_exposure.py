# SPDX-License-Identifier: Apache-2.0
"""Bulk exposure (screening): haircut shares of what wallets received from / sent to tagged categories.

The numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import polars as pl

from tracer.exposure import EDGE_COLUMNS, ExposureGraph, Side, exposures, utxo_address_edges
from tracer.schema import INPUTS, OUTPUTS

TAGS = pl.DataFrame(
    [{"address": "X", "category": "ransomware", "label": "Crew X"},
     {"address": "R", "category": "ransomware", "label": "Crew R"},
     {"address": "E", "category": "exchange", "label": "Exchange E"}],
)


def _edges(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame([{"src": s, "dst": d, "asset": "native", "amount": str(a), "txid": f"t-{s}-{d}"}
                         for s, d, a in rows], schema=EDGE_COLUMNS)


def _received() -> ExposureGraph:
    graph = ExposureGraph(Side.RECEIVED)
    # W1 received 100 from X (tagged) and 300 from Y; Y received 50 from R (tagged) and 150 from Z
    graph.add(_edges([("X", "W1", 100), ("Y", "W1", 300), ("Z", "W2", 10)]))
    graph.add(_edges([("R", "Y", 50), ("Z", "Y", 150)]))
    return graph


def test_one_hop_is_the_tagged_senders_amount() -> None:
    (found,) = exposures(_received(), ["W1", "W2"], 1, TAGS)
    assert (found.wallet, found.category, found.amount, found.total) == ("W1", "ransomware", 100, 400)
    assert found.path == ("W1", "X") and found.txids == ("t-X-W1",) and found.labels == ("Crew X",)


def test_two_hops_add_the_haircut_share_of_an_untagged_sender() -> None:
    (found,) = exposures(_received(), ["W1", "W2"], 2, TAGS)
    # Y sent 300 but received only 200 in the data: its pool is 300, 50 of it from R, so W1's 300 from
    # Y carry floor(300 * 50 / 300) = 50 of R's value (R only ever sent Y 50): 100 direct + 50 = 150
    assert found.amount == 150 and found.total == 400
    assert found.hops == 1  # the strongest evidence is the direct 100 from X


def test_an_intermediate_that_keeps_value_passes_on_only_its_share() -> None:
    # the op-fixture's ETH leg in small: the buyer pays the vendor 80, the vendor forwards 75 and keeps
    # 5, the intermediate deposits 70 at the exchange. Of the buyer's 80, 70 reached the exchange.
    graph = ExposureGraph(Side.SENT)
    graph.add(_edges([("Buyer", "Vendor", 80)]))
    graph.add(_edges([("Vendor", "Middle", 75)]))
    graph.add(_edges([("Middle", "E", 70)]))
    graph.pools.update({("Vendor", "native"): 80, ("Middle", "native"): 75})  # what each received
    (found,) = exposures(graph, ["Buyer"], 3, TAGS)
    # floor(75 * 70 / 75) = 70 from the vendor's 80-unit pool, floor(80 * 70 / 80) = 70 of the buyer's 80
    assert (found.category, found.amount, found.total) == ("exchange", 70, 80)
    assert found.path == ("Buyer", "Vendor", "Middle", "E") and found.hops == 3


def test_value_going_round_a_cycle_is_not_counted_twice() -> None:
    # W sends 10 to Y and 10 to E; Y sends the 10 back. Three hops out, the walk W -> Y -> W -> E would
    # count W's payment to E again: exposure stays at the 10 E received.
    graph = ExposureGraph(Side.SENT)
    graph.add(_edges([("W", "Y", 10), ("W", "E", 10)]))
    graph.add(_edges([("Y", "W", 10)]))
    graph.pools.update({("W", "native"): 10, ("Y", "native"): 10})  # what each received
    (found,) = exposures(graph, ["W"], 3, TAGS)
    assert (found.amount, found.total) == (10, 20)


def test_sent_side_follows_where_the_value_went() -> None:
    graph = ExposureGraph(Side.SENT)
    # W1 sent 40 to E (exchange) and 60 to V; V sent 30 to E and 70 to K
    graph.add(_edges([("W1", "E", 40), ("W1", "V", 60)]))
    graph.add(_edges([("V", "E", 30), ("V", "K", 70)]))
    (found,) = exposures(graph, ["W1"], 2, TAGS)
    assert (found.side, found.category, found.amount, found.total) == (Side.SENT, "exchange", 58, 100)
    only_exchange = exposures(graph, ["W1"], 2, TAGS, categories=["ransomware"])
    assert only_exchange == []


def test_a_tagged_address_stops_the_propagation() -> None:
    graph = ExposureGraph(Side.RECEIVED)
    graph.add(_edges([("E", "W1", 10)]))
    graph.add(_edges([("X", "E", 1_000)]))  # the exchange received ransomware money: W1 is not exposed to it
    assert [(e.category, e.amount) for e in exposures(graph, ["W1"], 3, TAGS)] == [("exchange", 10)]


def test_utxo_transactions_become_haircut_address_edges() -> None:
    inputs = pl.DataFrame([
        {"chain": "c", "txid": "t1", "index": 0, "prev_txid": "p", "prev_index": 0, "address": "A", "value": 60,
         "source": "s"},
        {"chain": "c", "txid": "t1", "index": 1, "prev_txid": "p", "prev_index": 1, "address": "B", "value": 40,
         "source": "s"},
    ], schema=INPUTS.polars_schema)
    outputs = pl.DataFrame([
        {"chain": "c", "txid": "t1", "index": 0, "address": "C", "script_type": "p2wpkh", "value": 70, "source": "s"},
        {"chain": "c", "txid": "t1", "index": 1, "address": None, "script_type": "nulldata", "value": 0,
         "source": "s"},
        {"chain": "c", "txid": "t1", "index": 2, "address": "A", "script_type": "p2wpkh", "value": 25, "source": "s"},
    ], schema=OUTPUTS.polars_schema)
    edges = utxo_address_edges(inputs, outputs)
    # A->C 60*70//100 = 42, B->C 40*70//100 = 28, B->A 40*25//100 = 10 (A->A is not an edge)
    assert edges.select("src", "dst", "amount").rows() == [("A", "C", "42"), ("B", "A", "10"), ("B", "C", "28")]


def test_a_large_entity_passes_on_only_its_tagged_neighbours() -> None:
    # L is a large entity (not expanded); Z behind it received from X (tagged). Whether or not Z was
    # expanded for another wallet of the batch, W1's exposure through L must be the same: none.
    graph = ExposureGraph(Side.RECEIVED)
    graph.add(_edges([("L", "W1", 400), ("Z", "W2", 10)]))
    graph.add(_edges([("Z", "L", 1_000), ("A1", "L", 1_000)]))
    alone = exposures(graph, ["W1"], 3, TAGS, large=["L"])
    graph.add(_edges([("X", "Z", 1_000)]))  # Z expanded because W2 was in the batch
    batched = exposures(graph, ["W1", "W2"], 3, TAGS, large=["L"])
    assert alone == [] and [e.wallet for e in batched] == ["W2"]


def test_a_tagged_wallet_keeps_its_indirect_exposure() -> None:
    tags = pl.concat([TAGS, pl.DataFrame([{"address": "W1", "category": "gambling", "label": "Casino"}])])
    (found,) = exposures(_received(), ["W1"], 1, tags)
    assert (found.wallet, found.category, found.amount) == ("W1", "ransomware", 100)


