# SPDX-License-Identifier: Apache-2.0
"""Deposit-address reuse (``tracer/deposit_reuse.py``; Victor, FC 2020) on hand-built transfer frames."""

from __future__ import annotations

import polars as pl

from tracer.deposit_reuse import (
    DEPOSIT_REUSE,
    DEPOSIT_SWEEP,
    LINK_COLUMNS,
    DepositParams,
    deposit_reuse,
    sweep_candidates,
)

CHAIN = "eth-devnet"
ETHER = 10**18
GAS = 42_000_000_000_000  # 21,000 gas at 2 gwei


def _frame(rows: list[tuple[str, str, int, int]], asset: str = "native") -> pl.DataFrame:
    """Transfers ``(from, to, value, block)``, one transaction each, in the given order."""
    return pl.DataFrame({
        "chain": [CHAIN] * len(rows), "txid": [f"0x{i:04x}" for i in range(len(rows))],
        "kind": ["native" if asset == "native" else "token"] * len(rows), "asset": [asset] * len(rows),
        "from_address": [r[0] for r in rows], "to_address": [r[1] for r in rows],
        "value": pl.Series([r[2] for r in rows], dtype=pl.Decimal(38, 0)),
        "block_height": [r[3] for r in rows], "tx_index": list(range(len(rows))),
        "log_index": pl.Series([None] * len(rows), dtype=pl.Int64),
        "trace_path": pl.Series([None] * len(rows), dtype=pl.String),
    })


def _exchange() -> list[tuple[str, str, int, int]]:
    """Three customers' deposit addresses sweeping to hot wallet H; alice pays D1 from two addresses."""
    return [
        ("alice-1", "D1", 2 * ETHER, 10), ("D1", "H", 2 * ETHER - GAS, 11),
        ("bob", "D2", ETHER, 10), ("D2", "H", ETHER - GAS, 12),
        ("carol", "D3", 3 * ETHER, 11), ("D3", "H", 3 * ETHER - GAS, 11),
        ("alice-2", "D1", ETHER, 14), ("D1", "H", ETHER - GAS, 15),
    ]


def test_a_deposit_address_sweeping_to_a_hot_wallet_is_the_exchanges() -> None:
    found = deposit_reuse(_frame(_exchange()), CHAIN)
    assert found.hot_wallets == ("H",)
    assert found.deposits["deposit_address"].to_list() == ["D1", "D2", "D3"]
    assert set(found.deposits["hot_wallet"].to_list()) == {"H"}
    assert found.deposits.filter(pl.col("deposit_address") == "D1")["sweeps"].item() == 2
    sweep = found.exchange_links.filter(pl.col("address") == "D1").row(0, named=True)
    assert sweep["linked_address"] == "H" and sweep["heuristic"] == DEPOSIT_SWEEP and sweep["txid"] == "0x0001"


def test_two_addresses_paying_one_deposit_address_are_linked_with_their_evidence() -> None:
    found = deposit_reuse(_frame(_exchange()), CHAIN)
    assert found.user_links.columns == list(LINK_COLUMNS)
    assert found.user_links.rows(named=True) == [{
        "chain": CHAIN, "address": "alice-1", "linked_address": "alice-2", "txid": "0x0006",
        "heuristic": DEPOSIT_REUSE, "deposit_address": "D1", "via_txid": "0x0000", "sweep_txid": "0x0001"}]
    ids = dict(found.clusters.select("address", "cluster_id").iter_rows())
    assert ids["alice-1"] == ids["alice-2"] == f"{CHAIN}:alice-1"
    assert ids["D1"] == ids["D2"] == ids["H"] == f"{CHAIN}:D1"
    assert "bob" not in ids  # a customer with one address links to nothing


def test_an_address_that_does_not_forward_what_it_received_is_not_a_deposit() -> None:
    rows = [*_exchange(),
            ("dave", "K", 5 * ETHER, 10), ("K", "H", ETHER, 11),  # forwards a fifth
            ("erin", "L", ETHER, 10), ("frank", "K", ETHER, 12), ("gina", "L", ETHER, 12),
            ("L", "H", 2 * ETHER - GAS, 3300 + 11)]  # swept far too late (> 3,200 blocks)
    found = deposit_reuse(_frame(rows), CHAIN)
    assert "K" not in found.deposits["deposit_address"].to_list()
    assert "L" not in found.deposits["deposit_address"].to_list()
    linked = set(found.user_links["address"].to_list()) | set(found.user_links["linked_address"].to_list())
    assert not linked & {"dave", "frank", "erin", "gina"}
    # with a longer window the late sweep counts
    late = deposit_reuse(_frame(rows), CHAIN, DepositParams(max_blocks=4000))
    assert "L" in late.deposits["deposit_address"].to_list()


def test_batched_sweeps_gas_top_ups_and_hot_wallet_withdrawals_do_not_link_the_exchange() -> None:
    rows = [*_exchange(),
            ("H", "D2", GAS, 20), ("bob", "D2", ETHER, 20), ("bob-2", "D2", ETHER, 21),
            ("D2", "H", 2 * ETHER, 23),  # one sweep of two deposits (and the top-up)
            ("H2", "D3", ETHER, 20), ("D3", "H", ETHER - GAS, 21)]  # another exchange withdrawing into D3
    found = deposit_reuse(_frame(rows), CHAIN, DepositParams(min_deposits=3))
    pairs = set(found.user_links.select("address", "linked_address").iter_rows())
    assert ("bob", "bob-2") in pairs
    assert not any("H" in pair for pair in pairs)
    sweeps = sweep_candidates(_frame(rows), CHAIN)
    batched = sweeps.filter((pl.col("deposit_address") == "D2") & (pl.col("block_height") == 23)).row(0, named=True)
    assert batched["receipts"] == 2 and batched["received"] == 2 * ETHER


def test_relays_that_forward_everything_are_not_taken_for_hot_wallets() -> None:
    """A launderer's hops each forward everything to one collecting address, which forwards to an exchange."""
    rows = [*_exchange()]
    for i in range(4):
        rows += [(f"thief-{i}", f"relay-{i}", ETHER, 30), (f"relay-{i}", "collector", ETHER - GAS, 31)]
    rows += [("collector", "D4", 4 * ETHER - 5 * GAS, 32), ("D4", "H", 4 * ETHER - 6 * GAS, 33)]
    found = deposit_reuse(_frame(rows), CHAIN)
    assert "collector" not in found.hot_wallets and "D4" not in found.hot_wallets


def test_results_do_not_depend_on_row_order_and_tokens_work_the_same() -> None:
    frame = _frame(_exchange(), asset="0xToken")
    first = deposit_reuse(frame, CHAIN)
    again = deposit_reuse(frame.reverse(), CHAIN)
    assert first.clusters.equals(again.clusters) and first.user_links.equals(again.user_links)
    assert first.hot_wallets == ("H",) and first.deposits.height == 3
    known = deposit_reuse(frame, CHAIN, DepositParams(min_deposits=10), known_hot_wallets=["H"])
    assert known.deposits.height == 3  # Victor's setting: the exchange addresses are given
    assert deposit_reuse(frame, CHAIN, DepositParams(min_deposits=10)).deposits.height == 0
