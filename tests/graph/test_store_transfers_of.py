# SPDX-License-Identifier: Apache-2.0
"""``GraphStore.transfers_of``: every transfer row of the given transactions, on every backend.

An address-seeded expansion copies a counterparty's whole transactions out of a chain store, not only
the rows that touch the address it asked about: this read returns all of them (native, token, internal
and fee rows, amounts beyond 64 bits and beyond ``DECIMAL(38)`` exact), the same rows as the reference
``read_frames`` gives for those transactions.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from graph.base import GraphStore
from tests.graph.sample_graph import ETH, LTC, TOKEN, X, Y, Z, sample_frames
from tracer.schema import TRANSFERS


def test_all_rows_of_the_transactions_whichever_address_they_touch(store: GraphStore) -> None:
    frames = sample_frames()
    store.load(frames)
    got = store.transfers_of(ETH, ["e1"])
    expected = frames.transfers.filter(pl.col("txid") == "e1").sort(list(TRANSFERS.key), nulls_last=True)
    assert got.schema == expected.schema
    assert got.to_dicts() == expected.to_dicts()
    # four rows, of which Y -> Z touches neither the sender X of the transaction
    assert sorted((r["kind"], r["from_address"], r["to_address"]) for r in got.iter_rows(named=True)) == sorted(
        [("native", X, Y), ("fee", X, None), ("token", X, Z), ("token", Y, Z)], key=str)


def test_amounts_beyond_64_bits_and_beyond_decimal_38_are_exact(store: GraphStore) -> None:
    store.load(sample_frames())
    rows = {(r["txid"], r["kind"], r["trace_path"], r["log_index"]): (r["value"], r["value_overflow"])
            for r in store.transfers_of(ETH, ["e1", "e2"]).iter_rows(named=True)}
    assert rows[("e2", "native", None, None)] == (Decimal(2**64 + 1), None)
    assert rows[("e2", "internal", "0.1", None)] == (Decimal(5 * 10**17), None)
    assert rows[("e1", "token", None, 0)] == (Decimal(2**70), None)
    assert rows[("e1", "token", None, 1)] == (None, str(10**40))
    assert len(rows) == 6


def test_unknown_txids_other_chains_and_no_txids_give_no_rows(store: GraphStore) -> None:
    store.load(sample_frames())
    assert store.transfers_of(ETH, ["nope"]).height == 0
    assert store.transfers_of(ETH, []).height == 0
    assert store.transfers_of(LTC, ["e1", "t2"]).height == 0  # UTXO transactions have no transfer rows
    only = store.transfers_of(ETH, ["e2", "nope"])
    assert set(only["txid"].to_list()) == {"e2"} and set(only["asset"].to_list()) == {"native"}
    assert TOKEN not in only["asset"].to_list()
