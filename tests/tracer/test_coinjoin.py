# SPDX-License-Identifier: Apache-2.0
"""CoinJoin detection: BlockSci's generic rule at its boundaries, and the Whirlpool, Wasabi and
JoinMarket shapes (GraphSense's structural checks), on hand-built transactions."""

from __future__ import annotations

import polars as pl

from tracer.coinjoin import COINJOIN_COLUMNS, coinjoin_transactions
from tracer.schema import INPUTS, OUTPUTS, conform

Side = list[tuple[str | None, int]]


def frames(txs: dict[str, tuple[Side, Side]], chain: str = "btc") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical inputs/outputs from ``{txid: ([(input address, value)], [(output address, value)])}``."""
    ins, outs = [], []
    for txid, (spent, paid) in txs.items():
        for i, (address, value) in enumerate(spent):
            ins.append({"chain": chain, "txid": txid, "index": i, "prev_txid": f"prev-{txid}-{i}", "prev_index": 0,
                        "address": address, "value": value, "source": "test"})
        for i, (address, value) in enumerate(paid):
            outs.append({"chain": chain, "txid": txid, "index": i, "address": address, "script_type": "p2wpkh",
                         "value": value, "source": "test"})
    return (conform(pl.DataFrame(ins, schema=dict(INPUTS.columns)), INPUTS),
            conform(pl.DataFrame(outs, schema=dict(OUTPUTS.columns)), OUTPUTS))


def detected(txs: dict[str, tuple[Side, Side]]) -> dict[str, str]:
    found = coinjoin_transactions(*frames(txs))
    return dict(zip(found["txid"].to_list(), found["shape"].to_list(), strict=True))


def two_users(change_a: int = 19_000, change_b: int = 39_000) -> tuple[Side, Side]:
    return ([("a1", 60_000), ("b1", 70_000)], [("x", 40_000), ("y", 40_000), ("ca", change_a), ("cb", change_b)])


# -- BlockSci -----------------------------------------------------------------------------------------
def test_two_users_with_equal_outputs_and_change_are_a_coinjoin() -> None:
    assert detected({"cj": two_users()}) == {"cj": "blocksci"}


def test_the_result_is_one_typed_row_per_coinjoin_sorted_by_txid() -> None:
    found = coinjoin_transactions(*frames({"t2": two_users(), "t1": two_users(), "plain": ([("a", 5)], [("b", 4)])}))
    assert found.schema == pl.Schema(COINJOIN_COLUMNS)
    assert found.rows() == [("btc", "t1", "blocksci"), ("btc", "t2", "blocksci")]


def test_three_outputs_is_the_smallest_coinjoin_and_two_is_not() -> None:
    assert detected({"three": ([("a", 60), ("b", 70)], [("x", 50), ("y", 50), ("c", 25)])}) == {"three": "blocksci"}
    assert detected({"two": ([("a", 60), ("b", 70)], [("x", 50), ("y", 50)])}) == {}


def test_one_input_is_not_a_coinjoin() -> None:
    assert detected({"one": ([("a", 200)], [("x", 50), ("y", 50), ("c", 25)])}) == {}


def test_participants_may_not_exceed_the_distinct_input_addresses() -> None:
    # two inputs, but one address: one participant cannot be two
    assert detected({"same": ([("a", 60), ("a", 70)], two_users()[1])}) == {}


def test_participants_may_not_exceed_the_inputs() -> None:
    # 5 outputs -> 3 participants, only 2 inputs
    paid = [("x", 50), ("y", 50), ("z", 50), ("c1", 7), ("c2", 9)]
    assert detected({"t": ([("a", 100), ("b", 100)], paid)}) == {}
    assert detected({"t": ([("a", 70), ("b", 70), ("d", 70)], paid)}) == {"t": "blocksci"}


def test_the_most_common_value_must_occur_exactly_participants_times() -> None:
    # 4 equal outputs, 2 participants: a batch payment, not a mix
    assert detected({"t": ([("a", 90), ("b", 90)], [("w", 40), ("x", 40), ("y", 40), ("z", 40)])}) == {}
    # all values distinct: the top count is 1, not 2
    assert detected({"t": ([("a", 90), ("b", 90)], [("w", 41), ("x", 42), ("y", 43), ("z", 44)])}) == {}


def test_dust_as_the_common_value_is_not_a_coinjoin() -> None:
    for dust in (546, 2_730):
        paid = [("x", dust), ("y", dust), ("c", 90_000)]
        assert detected({"t": ([("a", 50_000), ("b", 50_000)], paid)}) == {}, dust
    paid = [("x", 547), ("y", 547), ("c", 90_000)]
    assert detected({"t": ([("a", 50_000), ("b", 50_000)], paid)}) == {"t": "blocksci"}


def test_a_dust_value_tied_with_a_real_denomination_does_not_hide_the_coinjoin() -> None:
    paid = [("d1", 546), ("d2", 546), ("d3", 546), ("x", 1_000), ("y", 1_000), ("z", 1_000)]
    assert detected({"t": ([("a", 2_000), ("b", 2_000), ("c", 2_000)], paid)}) == {"t": "blocksci"}


def test_addressless_outputs_count_in_blocksci_rule() -> None:
    # an OP_RETURN makes 3 outputs: 2 participants, the equal pair occurs twice
    paid = [("x", 50), ("y", 50), (None, 0)]
    assert detected({"t": ([("a", 60), ("b", 60)], paid)}) == {"t": "blocksci"}


def test_each_chain_is_judged_on_its_own() -> None:
    btc = frames({"t": two_users()}, chain="btc")
    ltc = frames({"t": ([("a", 60), ("b", 60)], [("x", 50), ("y", 51)])}, chain="ltc")
    found = coinjoin_transactions(pl.concat([btc[0], ltc[0]]), pl.concat([btc[1], ltc[1]]))
    assert found.rows() == [("btc", "t", "blocksci")]


# -- known implementations ----------------------------------------------------------------------------
def test_whirlpool_mix_five_by_five_at_a_pool_denomination() -> None:
    d = 1_000_000
    remixes = [(f"r{i}", d) for i in range(4)]
    mix = ([*remixes, ("new", d + 5_000)], [(f"o{i}", d) for i in range(5)])
    assert detected({"mix": mix}) == {"mix": "whirlpool"}


def test_whirlpool_needs_a_new_entrant_paying_at_least_100_sat_and_a_pool_value() -> None:
    d = 1_000_000
    outs = [(f"o{i}", d) for i in range(5)]
    all_remix = ([(f"r{i}", d) for i in range(5)], outs)
    cheap_entrant = ([*[(f"r{i}", d) for i in range(4)], ("new", d + 50)], outs)
    not_a_pool = ([*[(f"r{i}", 2 * d) for i in range(4)], ("new", 2 * d + 5_000)], [(f"o{i}", 2 * d) for i in range(5)])
    # none of them is a CoinJoin by BlockSci's rule either (5 equal outputs, 3 participants)
    assert detected({"all_remix": all_remix, "cheap": cheap_entrant, "not_a_pool": not_a_pool}) == {}


def test_joinmarket_equal_outputs_plus_change_for_three_participants() -> None:
    spent = [("m1", 300_000), ("m2", 250_000), ("taker", 400_000)]
    paid = [("x", 200_000), ("y", 200_000), ("z", 200_000), ("c1", 99_000), ("c2", 49_500), ("c3", 199_000)]
    assert detected({"jm": (spent, paid)}) == {"jm": "joinmarket"}


def test_wasabi_1_rounds_of_about_a_tenth_of_a_bitcoin() -> None:
    denom = 10_010_000  # within 0.1 BTC +- 5 %
    spent = [(f"in{i}", 4_300_001 + i) for i in range(12)]
    paid = [(f"mix{i}", denom) for i in range(5)] + [(f"chg{i}", 1_234_567 + 11 * i) for i in range(5)]
    paid.append(("coordinator", 30_003))
    assert detected({"ww1": (spent, paid)}) == {"ww1": "wasabi"}


def test_wasabi_2_rounds_with_several_denominations() -> None:
    spent = [(f"in{i}", 3_000_000 + i) for i in range(20)]
    paid = ([(f"a{i}", 5_000_000) for i in range(4)] + [(f"b{i}", 2_000_000) for i in range(4)]
            + [(f"c{i}", 1_000_000) for i in range(3)] + [("change", 777_777), ("coordinator", 12_345)])
    assert detected({"ww2": (spent, paid)}) == {"ww2": "wasabi"}
    # a sweep in which one address brings more than 10 % of the inputs is not a Wasabi round
    swept = [("whale", 3_000_000)] * 3 + spent[3:]
    assert detected({"ww2": (swept, paid)}).get("ww2") != "wasabi"


def test_no_rows_in_no_rows_out() -> None:
    found = coinjoin_transactions(*frames({}))
    assert found.height == 0 and found.schema == pl.Schema(COINJOIN_COLUMNS)
